"""Every headline number in README.md and BENCHMARKS.md listed in docs/claims.toml still follows from the
committed rows (recomputed with the clustered bootstrap), and a changed number fails the check."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from optimize.reports.claims import CLAIMS, check_claims, compute

RESULTS = check_claims()


@pytest.mark.parametrize("result", RESULTS, ids=[f"{r.doc}:{r.expected[:60]}" for r in RESULTS])
def test_the_document_prints_what_the_committed_rows_give(result):
    assert result.found, (f"{result.doc} no longer says what its rows give: {result.expected!r}. Update the "
                          "sentence (and docs/claims.toml's text if the sentence was reworded)")


FIRST_CLAIM = tomllib.loads(CLAIMS.read_text())["claim"][0]
STALE_CLAIM = FIRST_CLAIM | {"text": FIRST_CLAIM["text"].replace("{difference:+.1f}", "{ci_high:+.1f}")}


def write_claims(path, claim: dict) -> str:
    """``claim`` as a one-claim TOML file at ``path``; returns the path as text."""
    lines = [f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
             for key, value in claim.items()]
    path.write_text("[[claim]]\n" + "\n".join(lines).replace("'", '"') + "\n")
    return str(path)


def test_a_number_that_no_longer_matches_its_rows_fails(tmp_path):
    [result] = check_claims(Path(write_claims(tmp_path / "claims.toml", STALE_CLAIM)))
    assert not result.found


def test_a_claim_without_committed_rows_says_how_to_fix_it():
    with pytest.raises(FileNotFoundError, match="not recomputable from the repo"):
        compute({"kind": "accuracy", "a": "docs/benchmarks/no-such-rows.jsonl"})
    with pytest.raises(ValueError, match="kind must be one of"):
        compute({"kind": "median", "a": "x"})


def test_the_claims_command_lists_each_sentence_with_its_files_and_fails_on_a_stale_one(tmp_path, capsys):
    from optimize.cli.app import main

    claims = write_claims(tmp_path / "claims.toml", FIRST_CLAIM)
    assert main(["claims", "--claims", claims, "--sources"]) == 0
    listed = capsys.readouterr().out
    assert f"`{FIRST_CLAIM['a']}`" in listed and f"`{FIRST_CLAIM['b']}`" in listed
    assert FIRST_CLAIM["doc"] in listed
    assert main(["claims", "--claims", claims]) == 0
    assert "1 of 1 claims match" in capsys.readouterr().out
    assert main(["claims", "--claims", write_claims(tmp_path / "claims.toml", STALE_CLAIM)]) == 1
    assert "no longer says what its rows give" in capsys.readouterr().out


def test_a_rows_selector_keeps_one_run_of_a_file_and_names_a_wrong_one():
    demo = "docs/figures/demo/rows.csv"
    whole = compute({"kind": "accuracy", "a": demo})
    one = compute({"kind": "accuracy", "a": f"{demo}#config_id=4207e3a38383"})
    assert one["n"] < whole["n"] and one["accuracy"] != whole["accuracy"]
    with pytest.raises(ValueError, match="no row of .* has config_id = 'nope'"):
        compute({"kind": "accuracy", "a": f"{demo}#config_id=nope"})
    with pytest.raises(ValueError, match="has no column 'nope'"):
        compute({"kind": "accuracy", "a": f"{demo}#nope=1"})
