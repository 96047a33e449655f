"""Shared fixtures: the fake engine (never a model, only plumbing) and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "true")
os.environ.setdefault("MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK", "true")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SLEEPTIME_SHARED") or REPO.parent / "shared")  # env: from a git worktree


@pytest.fixture
def fake_engine():
    """A loopback OpenAI-compatible endpoint answering '42' in ChatAdapter format unless told otherwise."""
    from programs.lm.fake_engine import FakeEngine, chat_adapter_reply

    with FakeEngine(lambda messages, request: chat_adapter_reply(answer="42")) as engine:
        yield engine
