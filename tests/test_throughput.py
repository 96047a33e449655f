"""The slots x phase x verbosity throughput table on the fake engine (plumbing only: no speed is measured)."""

import json

from optimize.cli.throughput import main
from programs.lm.fake_engine import FakeEngine, chat_adapter_reply


def reply(messages, request):
    return chat_adapter_reply(learned_context="- total = 12", reasoning="3 * 4 = 12", answer="12")


def test_every_cell_is_timed_once_and_compared_with_one_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPTIME_LOCAL_SLOTS", "1")  # restored afterwards: the run sets it per cell
    out = tmp_path / "throughput"
    with FakeEngine(reply) as engine:
        args = ["--models", f"openai/fake@{engine.api_base}", "--slots", "1,2", "--verbosities", "0",
                "--n", "4", "--out", str(out)]
        assert main(args) == 0
        timings = json.loads((out / "timings.json").read_text())
        assert len(timings) == 4 and all(t["questions"] == 4 for t in timings.values())
        calls = len(engine.requests)
        assert main(args) == 0  # finished cells are kept, not measured again
        assert len(engine.requests) == calls
    table = (out / "throughput.md").read_text()
    assert table.count("| fake |") == 4 and "0 of 4" in table and "1.00x" in table
