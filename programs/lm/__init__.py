"""The LM layer: one factory, one ledger, the embedded local model, and a fake engine for tests."""

from programs.lm.factory import (
    DEFAULT_MODEL,
    LMSetupError,
    ModelSpec,
    check_endpoint,
    make_lm,
    parse_model_spec,
)
from programs.lm.ledger import LedgerScope, LMCall, TokenLedger, Usage, default_ledger, summarize
from programs.lm.metered import MeteredLM

__all__ = [
    "DEFAULT_MODEL", "LMSetupError", "ModelSpec", "check_endpoint", "make_lm", "parse_model_spec",
    "LMCall", "LedgerScope", "TokenLedger", "Usage", "default_ledger", "summarize", "MeteredLM",
]
