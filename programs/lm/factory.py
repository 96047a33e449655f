"""The one LM factory: a model spec string in, a metered, configured ``dspy.LM`` out.

Model specs:
    ``local:qwen2.5-coder-0.5b`` / ``local:qwen2.5-coder-1.5b``
        the embedded model, served by llama.cpp in a child process this process owns (the default);
    ``openai/<model>``
        OpenAI itself, key from ``OPENAI_API_KEY``;
    ``openai/<model>@<api_base>`` (or ``openai/<model>`` plus ``api_base=``)
        any OpenAI-compatible server: vLLM, llama.cpp, Ollama (``http://localhost:11434/v1``), ...;
        the key comes from ``OPENAI_API_KEY`` when set, otherwise a placeholder is sent.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from programs.lm.ledger import PHASES, TokenLedger
from programs.lm.metered import MeteredLM

DEFAULT_MODEL = "local:qwen2.5-coder-0.5b"
API_KEY_ENV = "OPENAI_API_KEY"
SPEC_FORMS = (
    "local:qwen2.5-coder-0.5b, local:qwen2.5-coder-1.5b, openai/<model> (key from OPENAI_API_KEY), "
    "openai/<model>@http://host:port/v1 (any OpenAI-compatible server)"
)


class LMSetupError(RuntimeError):
    """A model spec, key or endpoint problem, with the fix in the message."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``str(spec)`` is safe to log: it never holds a key.

    Example:
        >>> parse_model_spec("openai/qwen@http://127.0.0.1:8000/v1").api_base
        'http://127.0.0.1:8000/v1'
    """

    kind: str  # "local" | "openai" | "compatible"
    name: str
    api_base: str | None = None

    def __str__(self) -> str:
        if self.kind == "local":
            return f"local:{self.name}"
        return f"openai/{self.name}" + (f"@{self.api_base}" if self.api_base else "")


def parse_model_spec(spec: str, api_base: str | None = None) -> ModelSpec:
    """Parse a model spec; ``api_base`` applies to ``openai/<model>`` specs that do not name one."""
    spec = (spec or "").strip()
    if spec.startswith("local:"):
        from programs.lm.local import LOCAL_MODELS

        key = spec.removeprefix("local:")
        if key not in LOCAL_MODELS:
            raise LMSetupError(f"unknown local model {key!r} in spec {spec!r}; known local models: "
                               + ", ".join(f"local:{k}" for k in LOCAL_MODELS))
        return ModelSpec("local", key)
    if spec.startswith("openai/") and len(spec) > len("openai/"):
        name, _, embedded_base = spec.removeprefix("openai/").partition("@")
        base = (embedded_base or api_base or "").rstrip("/") or None
        if not name:
            raise LMSetupError(f"model spec {spec!r} has no model name; use one of: {SPEC_FORMS}")
        if base and not base.startswith(("http://", "https://")):
            raise LMSetupError(f"API base {base!r} is not an http(s) URL; pass e.g. http://127.0.0.1:8000/v1")
        return ModelSpec("compatible" if base else "openai", name, base)
    raise LMSetupError(f"unknown model spec {spec!r}; use one of: {SPEC_FORMS}")


def check_endpoint(api_base: str, timeout: float = 5.0) -> None:
    """Fail fast, with the URL in the message, when nothing answers at ``api_base``."""
    try:
        urllib.request.urlopen(api_base.rstrip("/") + "/models", timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # something answered (401/404 are fine: the server is there)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LMSetupError(f"cannot reach the OpenAI-compatible server at {api_base} ({reason}); start the "
                           "server or fix --api-base (it usually ends in /v1)") from exc


def make_lm(spec: str | ModelSpec = DEFAULT_MODEL, *, phase: str, ledger: TokenLedger | None = None,
            api_base: str | None = None, max_tokens: int | None = None, temperature: float = 0.0,
            num_retries: int = 3, check: bool = True, local_options: dict[str, Any] | None = None,
            **lm_kwargs: Any) -> MeteredLM:
    """Build the metered ``dspy.LM`` for one phase ("sleep" or "test").

    DSPy's response cache is always off here: a cache hit reports no usage and would make a measured call
    look free. Re-use of sleep-time work is the learned-context store's job, where its cost is kept.

    Example:
        >>> from programs.lm.fake_engine import FakeEngine
        >>> with FakeEngine(lambda messages, request: "4") as engine:
        ...     lm = make_lm(f"openai/fake@{engine.api_base}", phase="test")
        ...     lm("What is 2+2?")
        ['4']
    """
    if phase not in PHASES:
        raise LMSetupError(f"unknown phase {phase!r}; use one of {PHASES}")
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec, api_base)
    kwargs: dict[str, Any] = dict(temperature=temperature, num_retries=num_retries, cache=False, **lm_kwargs)
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if parsed.kind == "local":
        from programs.lm.local import get_local_server

        server = get_local_server(parsed.name, **(local_options or {}))
        model, kwargs["api_base"], kwargs["api_key"] = f"openai/{server.alias}", server.api_base, "local"
    elif parsed.kind == "compatible":
        if check:
            check_endpoint(parsed.api_base)
        model, kwargs["api_base"] = f"openai/{parsed.name}", parsed.api_base
        kwargs["api_key"] = os.environ.get(API_KEY_ENV) or "not-needed"
    else:
        key = os.environ.get(API_KEY_ENV)
        if not key:
            raise LMSetupError(f"{str(parsed)!r} needs an OpenAI API key: export {API_KEY_ENV}=sk-... "
                               "(or point at a compatible server with openai/<model>@http://host:port/v1)")
        model, kwargs["api_key"] = f"openai/{parsed.name}", key
    return MeteredLM(model, phase=phase, ledger=ledger, label=str(parsed), **kwargs)
