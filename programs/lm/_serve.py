"""Child-process entry point that runs xllamacpp's OpenAI-compatible server until told to stop.

Started by :class:`programs.lm.server.LocalServer`; not meant to be run by hand, although it can be:

    python -m programs.lm._serve --model model.gguf --port 8080 --threads 2 --ctx 4096 --parallel 1 \\
        --alias qwen2.5-coder-0.5b

Only the standard library and xllamacpp are imported here, so the child starts fast. The child makes
sure it never outlives its parent: the kernel sends it SIGTERM when the parent dies (Linux
``PR_SET_PDEATHSIG``) and a watchdog thread exits when ``os.getppid()`` changes (every platform).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_WATCHDOG_INTERVAL_SECONDS = 0.5


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except OSError as error:  # no libc: the watchdog below still covers us
            print(f"[serve] prctl(PR_SET_PDEATHSIG) unavailable: {error}", flush=True)
    # The parent may have died before prctl took effect: then we are already re-parented.
    if os.getppid() != parent_pid:
        os._exit(0)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                print("[serve] parent process is gone; exiting", flush=True)
                os._exit(0)
            time.sleep(_WATCHDOG_INTERVAL_SECONDS)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a GGUF model over an OpenAI-compatible HTTP API.")
    parser.add_argument("--model", required=True, help="path of the .gguf file")
    parser.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ctx", type=int, default=4096, help="context size in tokens (shared by slots)")
    parser.add_argument("--parallel", type=int, default=1, help="number of request slots")
    parser.add_argument("--alias", required=True, help="model name the API reports and accepts")
    parser.add_argument("--no-cont-batching", action="store_true", help="turn continuous batching off")
    parser.add_argument("--cache-ram-mib", type=int, default=None,
                        help="host-memory prompt cache size in MiB (0 = off; default: llama.cpp's)")
    parser.add_argument("--slot-save-path", default=None, help="folder for slot save/restore files")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process dies")
    parser.add_argument("--speculative", default="none",
                        help="speculative decoding: none, ngram-simple, ngram-map-k, ngram-mod, ngram-cache, "
                             "or draft:<path of a smaller .gguf of the same family>")
    return parser.parse_args(argv)


def _set_speculative(params, spec: str, xllamacpp) -> None:
    kinds = xllamacpp.common_speculative_type
    if spec == "none":
        return
    if spec.startswith("draft:"):
        params.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        params.speculative.draft.mparams.path = spec.split(":", 1)[1]
        params.speculative.draft.cpuparams.n_threads = params.cpuparams.n_threads
        params.speculative.draft.cpuparams_batch.n_threads = params.cpuparams.n_threads
        return
    name = "COMMON_SPECULATIVE_TYPE_" + spec.upper().replace("-", "_")
    if not hasattr(kinds, name):
        raise SystemExit(f"unknown --speculative {spec!r}")
    params.speculative.types = [getattr(kinds, name)]


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    _die_with_parent(args.parent_pid if args.parent_pid is not None else os.getppid())

    import xllamacpp  # after the watchdog: a slow or failing import must not leave an orphan

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.model_alias = {args.alias}
    params.cont_batching = not args.no_cont_batching
    params.cache_prompt = True
    if args.cache_ram_mib is not None:
        params.cache_ram_mib = args.cache_ram_mib
    if args.slot_save_path:
        # llama.cpp joins folder and file name by plain concatenation: the folder needs its separator.
        params.slot_save_path = os.path.join(args.slot_save_path, "")
    _set_speculative(params, args.speculative, xllamacpp)
    print(f"[serve] xllamacpp {xllamacpp.__version__}: loading {args.model}", flush=True)
    server = xllamacpp.Server(params)  # returns once the model is loaded and the socket listens
    print(f"[serve] listening on {server.listening_address} as {args.alias!r}", flush=True)
    while True:  # the server runs on its own threads; SIGTERM (default action) ends the process
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
