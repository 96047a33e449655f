"""`sleeptime ask` (one question to any model spec) and `sleeptime lm-bench` (the LM layer's costs).

lm-bench measures, through the project's own layer: cold start (GGUF assembly from the chunk packages +
server ready, in an empty cache folder), warm start (cached file + server ready), prompt-processing and
generation speed from the server's own timings, and the per-call overhead of ``make_lm`` + DSPy against a
raw HTTP request with the same body.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request

BENCH_PROMPT = (
    "A farmer has 17 rows of apple trees with 23 trees in each row. Each tree gives 41 apples. "
    "He sells apples in crates of 12 and keeps the rest. " * 5
    + "Explain step by step how many full crates he can fill, then give the number."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    from optimize.cli.flags import add_subcommand, positive_int

    ask = add_subcommand(subparsers, "ask",
                         help="send one prompt to a model spec and print the answer and tokens")
    ask.add_argument("prompt", help="the prompt text")
    ask.add_argument("--model", default="local:qwen2.5-coder-0.5b", help="model spec (see README)")
    ask.add_argument("--api-base", default=None, help="OpenAI-compatible server for openai/<model> specs")
    ask.add_argument("--max-tokens", type=positive_int, default=128, metavar="N",
                     help="cap on generated tokens")
    ask.set_defaults(func=_ask)

    bench = add_subcommand(subparsers, "lm-bench",
                           help="measure start-up, tokens/s and layer overhead of a local model")
    bench.add_argument("--model", default="local:qwen2.5-coder-0.5b", help="local:<key> model spec")
    bench.add_argument("--calls", type=positive_int, default=5, metavar="N", help="requests per measurement")
    bench.add_argument("--max-tokens", type=positive_int, default=100, metavar="N",
                       help="cap on generated tokens per request")
    bench.add_argument("--out", default=None, help="write the measurements as JSON here")
    bench.set_defaults(func=_bench)


def _ask(args: argparse.Namespace) -> int:
    from programs.lm import TokenLedger, make_lm, parse_model_spec

    parse_model_spec(args.model, args.api_base)  # an unknown model is one error line before any start-up
    ledger = TokenLedger()
    lm = make_lm(args.model, phase="test", ledger=ledger, api_base=args.api_base, max_tokens=args.max_tokens)
    print(lm(args.prompt)[0])
    call = ledger.calls[-1]
    print(f"\n[{call.model}] prompt {call.prompt_tokens} tok, completion {call.completion_tokens} tok, "
          f"{call.seconds:.2f} s")
    return 0


def _raw_chat(api_base: str, alias: str, prompt: str, max_tokens: int) -> dict:
    body = json.dumps({"model": alias, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "temperature": 0}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(api_base + "/chat/completions", body, headers)
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def measure_local_model(key: str, *, calls: int = 5, max_tokens: int = 100) -> dict:
    """Start-up, speed and overhead of one local model, measured through programs.lm."""
    from programs.lm import TokenLedger, make_lm
    from programs.lm.local import LocalServer, ensure_model_file

    result: dict = {"model": f"local:{key}", "calls": calls, "max_tokens": max_tokens}
    with tempfile.TemporaryDirectory() as empty_cache:
        started = time.perf_counter()
        path = ensure_model_file(key, cache_dir=empty_cache)
        result["assembly_seconds"] = time.perf_counter() - started
        server = LocalServer(key, model_path=path)
        server.start()
        result["cold_start_seconds"] = time.perf_counter() - started
        server.stop()

    started = time.perf_counter()
    server = LocalServer(key, model_path=ensure_model_file(key))
    server.start()
    result["warm_start_seconds"] = time.perf_counter() - started
    try:
        speeds = [_raw_chat(server.api_base, server.alias, BENCH_PROMPT, max_tokens) for _ in range(2)]
        timings = [s.get("timings") or {} for s in speeds]
        result["prompt_tokens_per_second"] = timings[0].get("prompt_per_second")
        result["generation_tokens_per_second"] = statistics.mean(t.get("predicted_per_second") or 0
                                                                  for t in timings)
        # Overhead: the same short request, raw HTTP vs make_lm (+ litellm/DSPy) -> ledger.
        short = "Reply with the single word: ok"
        raw, layered = [], []
        ledger = TokenLedger()
        lm = make_lm(f"openai/{server.alias}@{server.api_base}", phase="test", ledger=ledger, max_tokens=4)
        for _ in range(calls):
            t = time.perf_counter()
            _raw_chat(server.api_base, server.alias, short, 4)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            lm(short)
            layered.append(time.perf_counter() - t)
        result["raw_call_seconds_median"] = statistics.median(raw)
        result["layer_call_seconds_median"] = statistics.median(layered)
        result["layer_overhead_ms_median"] = 1000 * (statistics.median(layered) - statistics.median(raw))
        result["ledger_tokens_per_call"] = ledger.calls[-1].total_tokens
    finally:
        server.stop()
    return result


def _bench(args: argparse.Namespace) -> int:
    from optimize.errors import UserError
    from programs.lm import parse_model_spec

    if not args.model.startswith("local:"):
        raise UserError(f"lm-bench measures the embedded local models, not {args.model!r}: pass --model "
                        "local:<key>")
    parse_model_spec(args.model)
    result = measure_local_model(args.model.removeprefix("local:"), calls=args.calls,
                                 max_tokens=args.max_tokens)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0
