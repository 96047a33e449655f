"""The server settings a run's rows were made under, and the rule that paired runs share them.

Greedy answers of the embedded llama.cpp server depend on more than the Budget: batching several requests
(``$SLEEPTIME_LOCAL_SLOTS`` > 1) and speculative decoding change some of them. A paired difference between
two runs made under different settings measures the budget change *and* the server change at once. So
every results file records its settings beside its configuration (``<rows>.config.json``, key ``server``,
outside the configuration's id so rows without settings resume), a resumed file refuses other settings, and a
paired comparison takes only runs whose settings are equal (or refuses).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SERVER_KEY = "server"


def server_settings(models: list[str | None]) -> dict[str, Any] | None:
    """The settings of the embedded server the ``local:`` models among ``models`` run on: slots and
    speculative decoding (from the environment, as the server reads them); None when no model is local
    (a remote endpoint's settings are not known here).

    Example:
        >>> import os
        >>> os.environ.pop("SLEEPTIME_LOCAL_SLOTS", None) is None or True
        True
        >>> server_settings(["local:qwen2.5-coder-1.5b"]) == {"slots": 1, "speculative": "none"}
        True
        >>> server_settings(["openai/gpt-4o-mini"]) is None
        True
    """
    if not any(str(model or "").startswith("local:") for model in models):
        return None
    from programs.lm.server import local_slots, local_speculative

    return {"slots": local_slots(), "speculative": local_speculative()}


def program_server_settings(program) -> dict[str, Any] | None:
    """:func:`server_settings` of the models a program's budget names."""
    budget = getattr(program, "budget", None) or getattr(getattr(program, "program", None), "budget", None)
    if budget is None:
        return None
    return server_settings([budget.test_model, budget.sleep_model if budget.use_sleep else None])


def recorded_settings(rows_path: str | Path) -> dict[str, Any] | None:
    """The settings recorded beside a results file (``<rows>.config.json``), or None when none are."""
    path = Path(str(rows_path) + ".config.json")
    try:
        return json.loads(path.read_text(encoding="utf-8")).get(SERVER_KEY)
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def comparable(a: dict | None, b: dict | None) -> bool:
    """True when two runs' settings may be paired: both recorded and equal in slots and speculative
    decoding. An unrecorded side is not comparable: its settings are unknown.

    Example:
        >>> comparable({"slots": 1, "speculative": "none"}, {"slots": 1, "speculative": "none"})
        True
        >>> comparable({"slots": 4, "speculative": "none"}, {"slots": 1, "speculative": "none"})
        False
        >>> comparable(None, {"slots": 1, "speculative": "none"})
        False
    """
    if not a or not b:
        return False
    return (a.get("slots"), a.get("speculative", "none")) == (b.get("slots"), b.get("speculative", "none"))


def describe(settings: dict | None) -> str:
    """``"1 slot, speculative none"``; ``"unrecorded settings"`` when none were recorded, ``"mixed or
    unknown slots"`` when a record names no single slot count (a run that changed settings midway).

    Example:
        >>> describe({"slots": 4}), describe(None), describe({"slots": None, "speculative": "none"})
        ('4 slots, speculative none', 'unrecorded settings', 'mixed or unknown slots')
    """
    if not settings:
        return "unrecorded settings"
    if settings.get("slots") is None:
        return "mixed or unknown slots"
    slots = settings["slots"]
    return f"{slots} slot{'s' if slots != 1 else ''}, speculative {settings.get('speculative', 'none')}"
