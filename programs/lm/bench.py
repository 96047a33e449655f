"""Throughput of the embedded local server at a given slot count: the measurement behind the default slots.

Starts a fresh :class:`programs.lm.server.LocalServer` with ``slots`` request slots (total context grown to
match), sends every prompt with up to ``slots`` requests in flight, greedy decoding, and reports wall time,
requests per minute and tokens per second. A measurement, never a test: it takes the machine's cores.

Run it from the repository root, e.g. for 1, 2 and 4 slots on the 0.5B::

    python3 -m programs.lm.bench --model local:qwen2.5-coder-0.5b --slots 1,2,4 --prompts 8 --max-tokens 64
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from programs.lm.factory import LMSetupError, parse_model_spec
from programs.lm.server import DEFAULT_SLOT_CTX, LocalServer, _http_json

SAMPLE_PROMPTS = (
    "Ann has 3 boxes with 4 apples each. She eats 2 apples. How many apples are left? Answer with a number.",
    "A train travels 60 km per hour for 3 hours, then 40 km per hour for 2 hours. How far did it go?",
    "Tom buys 5 pens at 2 dollars each and a notebook at 7 dollars. How much does he spend in total?",
    "A class has 28 pupils; 3/4 of them walk to school. How many pupils do not walk to school?",
)


def throughput(spec: str, prompts: list[str] | tuple[str, ...], slots: int, max_tokens: int = 64, *,
               slot_ctx: int = DEFAULT_SLOT_CTX, threads: int | None = None) -> dict[str, Any]:
    """Wall time, requests/min and tokens/s of ``prompts`` sent ``slots`` at a time to a fresh local server.

    Example (starts the real model; minutes on 2 cores)::

        throughput("local:qwen2.5-coder-0.5b", SAMPLE_PROMPTS, slots=2, max_tokens=32)
    """
    parsed = parse_model_spec(spec)
    if parsed.kind != "local":
        raise LMSetupError(f"throughput measures the embedded server; {spec!r} is not a local: spec")
    if not prompts:
        raise ValueError("no prompts to send; pass at least one")
    with LocalServer(parsed.name, n_parallel=slots, n_ctx=slot_ctx * slots, threads=threads) as server:
        url = f"{server.api_base}/chat/completions"

        def ask(prompt: str) -> dict[str, Any]:
            body = {"model": server.alias, "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": max_tokens, "temperature": 0}
            started = time.perf_counter()
            reply = _http_json(url, body, timeout=1800)
            usage = reply.get("usage") or {}
            return {"seconds": time.perf_counter() - started,
                    "prompt_tokens": int(usage.get("prompt_tokens") or 0),
                    "completion_tokens": int(usage.get("completion_tokens") or 0),
                    "finish_reason": (reply.get("choices") or [{}])[0].get("finish_reason")}

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=slots) as pool:
            replies = list(pool.map(ask, prompts))
        wall = time.perf_counter() - started
    completion = sum(r["completion_tokens"] for r in replies)
    prompt_tokens = sum(r["prompt_tokens"] for r in replies)
    return {
        "model": str(parsed), "slots": slots, "requests": len(replies), "max_tokens": max_tokens,
        "wall_seconds": round(wall, 2),
        "requests_per_minute": round(60 * len(replies) / wall, 2),
        "completion_tokens_per_second": round(completion / wall, 2),
        "total_tokens_per_second": round((completion + prompt_tokens) / wall, 2),
        "mean_request_seconds": round(sum(r["seconds"] for r in replies) / len(replies), 2),
        "truncated": sum(r["finish_reason"] == "length" for r in replies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Throughput of the local server at several slot counts.")
    parser.add_argument("--model", default="local:qwen2.5-coder-0.5b", help="a local: model spec")
    parser.add_argument("--slots", default="1,2,4", help="comma-separated slot counts (default: 1,2,4)")
    parser.add_argument("--prompts", type=int, default=len(SAMPLE_PROMPTS),
                        help="number of prompts (the sample prompts, repeated; default: 4)")
    parser.add_argument("--max-tokens", type=int, default=64, help="completion cap per request (default: 64)")
    args = parser.parse_args(argv)
    prompts = [SAMPLE_PROMPTS[i % len(SAMPLE_PROMPTS)] for i in range(args.prompts)]
    for slots in (int(part) for part in args.slots.split(",") if part.strip()):
        print(json.dumps(throughput(args.model, prompts, slots, args.max_tokens)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
