"""Template-disjoint splits."""

from types import SimpleNamespace

import pytest

from optimize.data.splits import SplitError, split_by_template


def rows(templates: int = 10, per: int = 3):
    return [SimpleNamespace(template_id=f"t{t}", n=t * per + i) for t in range(templates) for i in range(per)]


def test_no_template_in_two_splits_and_sizes_respected():
    parts = split_by_template(rows(), train=0.6, dev=0.2, test=0.2, seed=1)
    ids = {name: {r.template_id for r in part} for name, part in parts.items()}
    assert {name: len(v) for name, v in ids.items()} == {"train": 6, "dev": 2, "test": 2}
    assert not (ids["train"] & ids["dev"] or ids["train"] & ids["test"] or ids["dev"] & ids["test"])
    assert sum(len(p) for p in parts.values()) == 30


def test_counts_and_determinism_independent_of_input_order():
    data = rows()
    first = split_by_template(data, train=5, test=3, seed=9)
    second = split_by_template(list(reversed(data)), train=5, test=3, seed=9)
    assert {r.template_id for r in first["test"]} == {r.template_id for r in second["test"]}
    assert len({r.template_id for r in first["train"]}) == 5
    seeds = {
        tuple(sorted({r.template_id for r in split_by_template(data, train=5, seed=s)["train"]}))
        for s in range(5)
    }
    assert len(seeds) > 1  # the seed matters
    assert split_by_template(data, train=5, test=3, seed=9) == first


def test_impossible_sizes_raise_clearly():
    with pytest.raises(SplitError, match="only 10"):
        split_by_template(rows(), train=8, test=3, seed=0)
    with pytest.raises(SplitError, match="above 1"):
        split_by_template(rows(), train=1.5, seed=0)
    with pytest.raises(SplitError, match="no template_id"):
        split_by_template([SimpleNamespace(x=1)], train=1, seed=0)


def test_spread_contexts_takes_one_context_per_template_before_a_second():
    import dspy

    from optimize.data.splits import spread_contexts

    rows = [dspy.Example(context_id=f"{t}-{i}", template_id=t, question=f"q{q}")
            for t in ("a", "b", "c") for i in range(3) for q in range(2)]
    picked = spread_contexts(rows, 4)
    assert sorted({e.context_id for e in picked}) == ["a-0", "a-1", "b-0", "c-0"]
    assert len(picked) == 8  # every question of each chosen context
    assert spread_contexts(rows, 100) == rows


def test_train_order_shuffles_by_seed_and_keeps_sleep_phase_rounds():
    import dspy

    from optimize.data.splits import train_order

    rows = [dspy.Example(context_id=c, question_id=f"{c}{q}") for c in "abcd" for q in range(3)]
    same, label = train_order(rows)
    assert [r.question_id for r in same] == [r.question_id for r in rows] and label == "data"
    one, _ = train_order(rows, shuffle=True, seed=1)
    again, _ = train_order(rows, shuffle=True, seed=1)
    other, _ = train_order(rows, shuffle=True, seed=2)
    ids = [r.question_id for r in one]
    assert ids == [r.question_id for r in again] and ids != [r.question_id for r in other]
    assert sorted(ids) == sorted(r.question_id for r in rows) and ids != [r.question_id for r in rows]
    rounds, label = train_order(rows, phase="sleep", shuffle=True, seed=1)
    assert len({r.context_id for r in rounds[:4]}) == 4  # every context once before any twice
    assert label == "one question per context per round, contexts shuffled (seed 1)"
