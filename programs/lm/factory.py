"""The one LM factory: a model spec string in, a metered, configured ``dspy.LM`` out.

Model specs (validated by :func:`validate_spec` without any network access):
    ``local:qwen2.5-coder-0.5b`` / ``local:qwen2.5-coder-1.5b``
        the embedded model, served by llama.cpp in a child process this process owns (the default);
        it runs :func:`suggested_concurrency` request slots (``$SLEEPTIME_LOCAL_SLOTS``) and is restarted
        if it dies;
    ``openai/<model>``
        OpenAI itself, key from ``OPENAI_API_KEY``;
    ``openai/<model>@<api_base>`` (or ``openai/<model>`` plus ``api_base=``)
        any OpenAI-compatible server that is already running: vLLM, Ollama (``http://localhost:11434/v1``),
        or a llama.cpp server you started yourself, e.g. ``openai/qwen@http://127.0.0.1:8080/v1`` (the
        model name is the server's alias; the embedded server is not started). The key comes from
        ``OPENAI_API_KEY`` when set, otherwise a placeholder is sent;
    ``<provider>/<model>[@<api_base>]``
        any other LiteLLM model string, passed through as is: ``anthropic/claude-3-5-haiku-latest``,
        ``ollama_chat/llama3`` (``@http://localhost:11434``), ``groq/llama-3.1-8b-instant``, ...; LiteLLM
        reads the provider's key from its usual variable (``ANTHROPIC_API_KEY``, ...).

In ``openai/`` specs the first ``@`` starts the API base; in other providers' specs an ``@`` does so only
when a URL scheme follows it (``vertex_ai/claude@20240229`` stays a model name). The API base must be
``http://`` or ``https://``.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from programs.lm.ledger import PHASES, TokenLedger
from programs.lm.metered import MeteredLM
from programs.redact import redact

DEFAULT_MODEL = "local:qwen2.5-coder-0.5b"
API_KEY_ENV = "OPENAI_API_KEY"
REMOTE_CONCURRENCY = 8
SPEC_FORMS = (
    "local:qwen2.5-coder-0.5b, local:qwen2.5-coder-1.5b, openai/<model> (key from OPENAI_API_KEY), "
    "openai/<model>@http://host:port/v1 (any running OpenAI-compatible server), or any LiteLLM model "
    "string <provider>/<model>[@http(s)://host:port] (e.g. anthropic/claude-3-5-haiku-latest, "
    "ollama_chat/llama3)"
)
_PROVIDER = re.compile(r"[a-z][a-z0-9_\-]*\Z")
_BASE_SEPARATOR = re.compile(r"@(?=[A-Za-z][A-Za-z0-9+.\-]*://)")  # "@" followed by a URL scheme


class LMSetupError(RuntimeError):
    """A model spec, key or endpoint problem, with the fix in the message."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``str(spec)`` is the normalized spec (pass it through ``redact`` before writing
    it anywhere: an API base may hold a password).

    ``kind`` is ``"local"`` (embedded server), ``"openai"`` (OpenAI itself), ``"compatible"`` (an
    OpenAI-compatible server at ``api_base``) or ``"litellm"`` (any other LiteLLM provider; ``name`` is
    the whole ``provider/model`` string).

    Example:
        >>> parse_model_spec("openai/qwen@http://127.0.0.1:8000/v1").api_base
        'http://127.0.0.1:8000/v1'
        >>> parse_model_spec("anthropic/claude-3-5-haiku-latest").kind
        'litellm'
    """

    kind: str  # "local" | "openai" | "compatible" | "litellm"
    name: str
    api_base: str | None = None

    def __str__(self) -> str:
        if self.kind == "local":
            return f"local:{self.name}"
        model = self.name if self.kind == "litellm" else f"openai/{self.name}"
        return model + (f"@{self.api_base}" if self.api_base else "")

    @property
    def litellm_model(self) -> str:
        """The model string handed to ``dspy.LM`` (LiteLLM's ``provider/model``)."""
        return self.name if self.kind == "litellm" else f"openai/{self.name}"


def _checked_base(base: str, spec: str) -> str:
    base = base.strip().rstrip("/")
    scheme = base.partition("://")[0].lower() if "://" in base else ""
    if scheme not in ("http", "https") or not base.partition("://")[2]:
        raise LMSetupError(f"API base {redact(base)!r} is not an http(s) URL; pass e.g. "
                           "http://127.0.0.1:8000/v1")
    return base


def parse_model_spec(spec: str, api_base: str | None = None) -> ModelSpec:
    """Parse and validate a model spec (no network); ``api_base`` applies to specs that do not name one."""
    if not isinstance(spec, str):
        raise LMSetupError(f"a model spec must be a string, got {type(spec).__name__}; "
                           f"use one of: {SPEC_FORMS}")
    spec = spec.strip()
    if spec.startswith("local:"):
        from programs.lm.model_files import LOCAL_MODELS

        key = spec.removeprefix("local:")
        if key not in LOCAL_MODELS:
            raise LMSetupError(f"unknown local model {key!r} in spec {spec!r}; known local models: "
                               + ", ".join(f"local:{k}" for k in LOCAL_MODELS))
        return ModelSpec("local", key)
    # OpenAI model names never hold "@", so there any "@" starts the API base (and a base without a scheme
    # is reported); other providers' names may (vertex_ai/claude@20240229): there only "@scheme://" does.
    separator = "@" if spec.startswith("openai/") else _BASE_SEPARATOR
    parts = spec.split("@", 1) if separator == "@" else separator.split(spec, maxsplit=1)
    model, embedded_base = parts[0], (parts[1] if len(parts) > 1 else None)
    provider, slash, name = model.partition("/")
    if not slash or not _PROVIDER.match(provider) or not name.strip() or any(c.isspace() for c in model):
        raise LMSetupError(f"unknown model spec {redact(spec)!r}; use one of: {SPEC_FORMS}")
    raw_base = embedded_base if embedded_base is not None else api_base
    base = _checked_base(raw_base, spec) if raw_base and raw_base.strip() else None
    if provider == "openai":
        return ModelSpec("compatible" if base else "openai", name, base)
    return ModelSpec("litellm", model, base)


def validate_spec(spec: str, api_base: str | None = None) -> str:
    """The normalized model spec, or :class:`LMSetupError` with one clear line (no network access).

    Example:
        >>> validate_spec(" openai/qwen@http://127.0.0.1:8000/v1/ ")
        'openai/qwen@http://127.0.0.1:8000/v1'
        >>> try:
        ...     validate_spec("local:qwen9")
        ... except LMSetupError as error:
        ...     print(str(error)[:60])
        unknown local model 'qwen9' in spec 'local:qwen9'; known loc
    """
    return str(parse_model_spec(spec, api_base))


def suggested_concurrency(spec: str | ModelSpec) -> int:
    """How many requests to send at once: the local server's slot count for ``local:`` specs
    (``$SLEEPTIME_LOCAL_SLOTS`` overrides the default), else 8 for remote endpoints.

    Example:
        >>> suggested_concurrency("openai/gpt-4o-mini")
        8
    """
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    if parsed.kind == "local":
        from programs.lm.server import local_slots

        return local_slots()
    return REMOTE_CONCURRENCY


def sampling_config(index: int, *, temperature: float, seed: int) -> dict[str, Any]:
    """The per-call config of the ``index``-th of several sampled calls (DSPy's ``config=`` argument).

    ``rollout_id`` keeps the samples distinct for DSPy; the per-sample seed makes the server sample
    differently while staying reproducible.

    Example:
        >>> sampling_config(2, temperature=0.7, seed=10)
        {'temperature': 0.7, 'rollout_id': 2, 'seed': 12}
    """
    return {"temperature": temperature, "rollout_id": index, "seed": seed + index}


def check_endpoint(api_base: str, timeout: float = 5.0) -> None:
    """Fail fast, with the URL in the message, when nothing answers at ``api_base``."""
    parts = urllib.parse.urlsplit(api_base)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    request = urllib.request.Request(parts._replace(netloc=host).geturl().rstrip("/") + "/models")
    if parts.username is not None:  # credentials in the URL go in a header, as HTTP clients send them
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        urllib.request.urlopen(request, timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # something answered (401/404 are fine: the server is there)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LMSetupError(f"cannot reach the server at {redact(api_base)} ({redact(reason)}); start the "
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
    if isinstance(num_retries, bool) or not isinstance(num_retries, int) or num_retries < 0:
        raise LMSetupError(f"num_retries={num_retries!r} must be a whole number >= 0 (e.g. 3)")
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec, api_base)
    kwargs: dict[str, Any] = dict(temperature=temperature, num_retries=num_retries, cache=False, **lm_kwargs)
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    server = None
    if parsed.kind == "local":
        from programs.lm.server import get_local_server

        try:
            server = get_local_server(parsed.name, **(local_options or {}))
        except TypeError as exc:
            raise LMSetupError(f"bad local_options {local_options!r} ({exc}); accepted: threads, n_ctx "
                               "(per slot), n_parallel, cache_ram_mib, slot_save_path, cont_batching, "
                               "cache_dir") from None
        model, kwargs["api_base"], kwargs["api_key"] = f"openai/{server.alias}", server.api_base, "local"
    elif parsed.kind == "litellm":
        if parsed.api_base:
            if check:
                check_endpoint(parsed.api_base)
            kwargs["api_base"] = parsed.api_base
        model = parsed.litellm_model
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
    # The label goes into the ledger and from there into result files: never with a password in it.
    return MeteredLM(model, phase=phase, ledger=ledger, label=redact(str(parsed)), server=server, **kwargs)
