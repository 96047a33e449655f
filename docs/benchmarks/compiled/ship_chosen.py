"""Ship what the selection protocol chose (the last step of remake-shipped.sh).

    python3 docs/benchmarks/compiled/ship_chosen.py PROTOCOL_DIR DEST

PROTOCOL_DIR holds the chosen bundle (``program/``, written by ``compile --draws``) and the ``compare`` tables
of its held-out runs (``test-table.csv``, and ``gsm-symbolic-table.csv`` once that run exists). DEST
(``programs/compiled/<model>/<name>``) gets the bundle's three files, its manifest carrying the selection
record and each held-out result beside the hand-written program's, so a user who loads the program by name
reads how it was chosen and what it scored. When the protocol chose the hand-written program nothing ships
and the exit status is 1.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

from optimize.reports.compare import interval_bounds

HELD_OUT = {
    "test": ("test-table.csv", "data/stateful_gsm.jsonl, test split (templates disjoint from train and dev)",
             "{dir}/handwritten-test.jsonl and {dir}/chosen-test.jsonl"),
    "gsm_symbolic": ("gsm-symbolic-table.csv",
                     "GSM-Symbolic, 147 third-party templates, one question each "
                     "(mlruns/gsm-symbolic-heldout.jsonl as BENCHMARKS.md makes it)",
                     "{dir}/gsm-symbolic-handwritten.jsonl and {dir}/gsm-symbolic-chosen.jsonl (published: "
                     "no question text)"),
}


def _interval(text: str, scale: float = 1.0) -> list[float]:
    return [round(bound * scale, 4) for bound in interval_bounds(text)]


def _share(percent: str) -> float:  # accuracies as fractions, as the manifest's scores give them
    return round(float(percent) / 100, 4)


def _shown_by(significant: str) -> str:
    return significant if significant not in ("", "no") else "neither (both intervals include zero)"


def held_out_result(table: Path, data: str, rows: str) -> dict:
    """The chosen program's line of a ``compare`` table against the hand-written line, as manifest fields."""
    with table.open(newline="", encoding="utf-8") as file:
        lines = {line["variant"]: line for line in csv.DictReader(file)}
    chosen, hand_written = lines["chosen"], lines["hand-written"]
    return {
        "data": data, "rows": rows, "table": str(table), "server": chosen["server"],
        "questions": int(chosen["n"]), "contexts": int(chosen["contexts"]),
        "templates": int(chosen["templates"]), "mean_test_tokens": float(chosen["test_tokens"]),
        "accuracy": _share(chosen["accuracy"]), "accuracy_ci_context": _interval(chosen["ci_context"], 0.01),
        "accuracy_ci_template": _interval(chosen["ci_template"], 0.01),
        "hand_written": {"accuracy": _share(hand_written["accuracy"]),
                         "accuracy_ci_context": _interval(hand_written["ci_context"], 0.01),
                         "mean_test_tokens": float(hand_written["test_tokens"])},
        "minus_hand_written": {"points": float(chosen["difference"]),  # percentage points
                               "ci_context": _interval(chosen["diff_ci_context"]),
                               "ci_template": _interval(chosen["diff_ci_template"]),
                               "shown_by": _shown_by(chosen["significant"]),
                               "comparisons_in_family": 1},
    }


def ship(protocol: Path, dest: Path) -> dict:
    bundle = protocol / "program"
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    selection = manifest["selection"]
    if selection["chosen"].get("draw") is None:
        raise SystemExit(f"the protocol chose {selection['chosen']['name']!r}: no compiled program ships")
    selection["record"] = str(bundle)
    manifest["held_out"] = {}
    for name, (table, data, rows) in HELD_OUT.items():
        if (protocol / table).is_file():
            manifest["held_out"][name] = held_out_result(protocol / table, data, rows.format(dir=protocol))
        else:
            missing = f"{protocol / table} does not exist: run remake-shipped.sh"
            manifest["held_out"][name] = {"not_yet": missing}
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("program.json", "budget.json"):
        shutil.copyfile(bundle / name, dest / name)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (dest / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    shipped = ship(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"shipped {shipped['selection']['chosen']['name']} to {sys.argv[2]}:",
          {name: result.get("minus_hand_written", result) for name, result in shipped["held_out"].items()})
