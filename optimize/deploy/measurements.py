"""Deployment measurements of sleep-time compute: `python3 -m optimize.cli.measurements <mode> ...`.

Modes:
    latency         test-time p50/p95 and time to first token (streamed) with a learned context, with the
                    context and notes cached by the server (warm) and not (cold), against test-time-only
                    answers at several verbosities, on N test-split questions; accuracy per mode.
    load            concurrent clients against `sleeptime serve`: throughput, latency percentiles, lost
                    answers.
    kill            the load, with the server SIGKILLed mid-load and restarted on the same store: every
                    learned context finished before the kill must still be there.
    scheduler       cost per query of the break-even scheduler against always-sleep and never-sleep at
                    N = 1, 3, 10 from evaluate's result rows.
    predictability  correlation of predictability estimates with the measured per-question sleep-time gain.

Each mode prints a table and writes JSON/CSV under ``--out``. Nothing here is a unit test: the numbers
come from real models (the fake engine only checks the plumbing in tests).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PRIME_QUESTION = "Which quantities do the facts give?"
LABEL_VALUES = {"high": 1.0, "medium": 0.5, "low": 0.0}
ROWS_LABEL = re.compile(r"^(sleep|test)(?:-k(\d+))?(?:-v(\d+))?$")


def write_result(out: Path, name: str, payload: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    if hasattr(payload, "to_csv"):
        payload.to_csv(path, index=False)
    else:
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _questions(data: str, split: str, seed: int, n: int) -> list:
    """The first ``n`` questions of a split, whole contexts in data order."""
    from optimize.data.loaders import load_examples

    return load_examples(data, split=None if split == "all" else split, seed=seed)[:n]


def _by_context(examples) -> OrderedDict:
    groups: OrderedDict[str, list] = OrderedDict()
    for example in examples:
        groups.setdefault(str(example.get("context_id")), []).append(example)
    return groups


# -- (a) latency ---------------------------------------------------------------------------------------
def _endpoint(spec: str) -> tuple[str, str]:
    from programs.lm import TokenLedger, make_lm

    lm = make_lm(spec, phase="test", ledger=TokenLedger())
    if not lm.kwargs.get("api_base"):
        raise ValueError(f"latency is measured against a server you run: use local:<model> or "
                         f"openai/<model>@http://host:port/v1, not {spec!r}")
    return lm.kwargs["api_base"], lm.model.removeprefix("openai/")


def stream_chat(api_base: str, model: str, messages: list[dict], max_tokens: int,
                cache_prompt: bool | None = None, timeout: float = 600.0) -> dict:
    """One streamed chat request: text, seconds to the first content token and to the end, and usage.

    A server that ignores ``stream`` (one JSON reply) counts its whole reply as the first token."""
    import os

    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0,
                            "stream": True, "stream_options": {"include_usage": True}}
    if cache_prompt is not None:
        body["cache_prompt"] = cache_prompt  # llama.cpp: reuse (or not) the slot's cached prefix
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY') or 'not-needed'}"}
    request = urllib.request.Request(api_base.rstrip("/") + "/chat/completions", json.dumps(body).encode(),
                                     headers)
    started = time.perf_counter()
    first, text, usage, timings = None, [], {}, {}
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if "text/event-stream" not in (response.headers.get("Content-Type") or ""):
            reply = json.load(response)
            first = time.perf_counter() - started
            text.append(reply["choices"][0]["message"]["content"] or "")
            usage, timings = reply.get("usage") or {}, reply.get("timings") or {}
        else:
            for raw in response:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        first = first if first is not None else time.perf_counter() - started
                        text.append(piece)
                usage = chunk.get("usage") or usage
                timings = chunk.get("timings") or timings
    seconds = time.perf_counter() - started
    details = usage.get("prompt_tokens_details") or {}
    return {"text": "".join(text), "ttft": first if first is not None else seconds, "seconds": seconds,
            "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
            "cached_tokens": details.get("cached_tokens", timings.get("cache_n"))}


def _formatted(program, context: str, question: str, notes: str | None) -> tuple[list[dict], Any, Any]:
    """The exact messages the program's answerer sends (context and notes first, question last)."""
    predict = program.answerer.predict
    adapter = program.answerer.lm_binding.adapter
    inputs = {"context": context, "question": question}
    if notes is not None:
        inputs["learned_context"] = notes
    return adapter.format(predict.signature, predict.demos, inputs), adapter, predict.signature


def _test_cap(budget) -> int:
    # Budget.resolved_test_max_tokens (per-verbosity caps) where this Budget has it, else the plain field.
    return getattr(budget, "resolved_test_max_tokens", None) or budget.test_max_tokens


def latency(*, data: str = "ours", split: str = "test", seed: int = 0, n: int = 30,
            model: str = "local:qwen2.5-coder-0.5b", sleep_model: str | None = None,
            test_model: str | None = None, store: str | None = None, verbosities: Sequence[int] = (0, 2, 4),
            notes_verbosity: int = 0, sleep_samples: int = 1, sleep_max_tokens: int = 512,
            max_tokens: int | None = None) -> dict:
    """Mode (a): test-time latency and time to first token of ``n`` questions with learned contexts
    (verbosity ``notes_verbosity``) against test-time-only answers at each of ``verbosities``, cold and warm
    server cache; ``sleep_model``/``test_model`` default to ``model``, ``max_tokens`` to the Budget's cap.
    Returns :func:`latency_summary`'s table, rows and verdict."""
    from tqdm.auto import tqdm

    from programs.answers import is_correct
    from programs.api import build_program
    from programs.budget import Budget
    from programs.lm import TokenLedger
    from programs.store import open_store

    examples = _questions(data, split, seed, n)
    test_model, sleep_model = test_model or model, sleep_model or model
    ledger, notes_store = TokenLedger(), open_store(store)
    caps = {"test_max_tokens": max_tokens} if max_tokens else {}  # else the Budget's default cap
    base = Budget(sleep_model=sleep_model, test_model=test_model, sleep_samples=sleep_samples,
                  sleep_max_tokens=sleep_max_tokens, **caps)
    with_notes = build_program(base.replace(test_verbosity=notes_verbosity), ledger=ledger, store=notes_store)
    modes = [("notes", notes_verbosity, with_notes)] + [
        ("test-only", v, build_program(base.replace(use_sleep=False, test_verbosity=v), ledger=ledger))
        for v in verbosities]
    api_base, alias = _endpoint(test_model)
    groups = _by_context(examples)
    notes = {cid: with_notes.sleep(members[0].get("context"))
             for cid, members in tqdm(groups.items(), desc="learned contexts", unit="ctx")}
    rows = []
    bar = tqdm(total=len(examples) * len(modes) * 2, desc="latency", unit="req")
    for cid, members in groups.items():
        context = members[0].get("context")
        for mode, verbosity, program in modes:
            lc = notes[cid] if mode == "notes" else None
            primer, _, _ = _formatted(program, context, PRIME_QUESTION, lc)
            for example in members:
                messages, adapter, signature = _formatted(program, context, example.get("question"), lc)
                for cache in ("cold", "warm"):
                    if cache == "warm":
                        # The server holds this context (and notes) but not this question, as it would after
                        # prefill or an earlier question on the context.
                        stream_chat(api_base, alias, primer, 1, cache_prompt=True)
                    result = stream_chat(api_base, alias, messages, _test_cap(program.budget),
                                         cache_prompt=cache == "warm")
                    try:
                        answer = adapter.parse(signature, result["text"]).get("answer")
                    except Exception:  # noqa: BLE001 - an unparsable reply is scored wrong, as in evaluate
                        answer = None
                    rows.append({"context_id": cid, "question_id": example.get("question_id"), "mode": mode,
                                 "verbosity": verbosity, "cache": cache, "correct": is_correct(answer,
                                                                                              example.get("answer")),
                                 **{k: v for k, v in result.items() if k != "text"}})
                    bar.update(1)
    bar.close()
    return latency_summary(rows)


# Names of the latency verdict's fields in files written before they said what they compare.
OLD_VERDICT_FIELDS = {"equal_accuracy_verbosity": "at_least_as_accurate_verbosity",
                      "equal_accuracy_p50": "at_least_as_accurate_p50",
                      "speedup_at_equal_accuracy": "p50_ratio_to_at_least_as_accurate"}


def read_latency_verdict(path: str | Path) -> dict:
    """A ``latency_verdict.json``, with the fields of older files under today's names.

    Example:
        >>> import json, tempfile
        >>> old = Path(tempfile.mkdtemp()) / "latency_verdict.json"
        >>> _ = old.write_text(json.dumps({"notes_p50": 1.0, "speedup_at_equal_accuracy": 4.8}))
        >>> read_latency_verdict(old)
        {'notes_p50': 1.0, 'p50_ratio_to_at_least_as_accurate': 4.8}
    """
    verdict = json.loads(Path(path).read_text())
    return {OLD_VERDICT_FIELDS.get(key, key): value for key, value in verdict.items()}


def latency_summary(rows: list[dict]) -> dict:
    """p50/p95 latency and time to first token per (mode, verbosity, cache), accuracy, and the fastest
    test-time-only verbosity at least as accurate as the warm notes, its p50 against theirs with both
    accuracies (the ``at_least_as_accurate_*`` fields)."""
    import pandas as pd

    from optimize.deploy.load import percentile

    frame = pd.DataFrame(rows)
    table = []
    for (mode, verbosity, cache), part in frame.groupby(["mode", "verbosity", "cache"], sort=False):
        table.append({"mode": mode, "verbosity": int(verbosity), "cache": cache, "n": len(part),
                      "accuracy": float(part["correct"].mean()),
                      "p50_seconds": percentile(list(part["seconds"]), 50),
                      "p95_seconds": percentile(list(part["seconds"]), 95),
                      "p50_ttft": percentile(list(part["ttft"]), 50),
                      "p95_ttft": percentile(list(part["ttft"]), 95),
                      "mean_prompt_tokens": part["prompt_tokens"].astype(float).mean(),
                      "mean_cached_tokens": part["cached_tokens"].astype(float).mean(),
                      "mean_completion_tokens": part["completion_tokens"].astype(float).mean()})
    summary = pd.DataFrame(table)
    warm = summary[summary["cache"] == "warm"]
    notes = warm[warm["mode"] == "notes"].iloc[0]
    baseline = warm[warm["mode"] == "test-only"]
    as_good = baseline[baseline["accuracy"] >= notes["accuracy"]].sort_values("p50_seconds")
    matched = as_good.iloc[0] if len(as_good) else None
    v0 = baseline[baseline["verbosity"] == 0]
    verdict = {"notes_p50": notes["p50_seconds"], "notes_accuracy": notes["accuracy"],
               "test_only_v0_p50": float(v0["p50_seconds"].iloc[0]) if len(v0) else None,
               "test_only_v0_accuracy": float(v0["accuracy"].iloc[0]) if len(v0) else None,
               "at_least_as_accurate_verbosity": int(matched["verbosity"]) if matched is not None else None,
               "at_least_as_accurate_accuracy": float(matched["accuracy"]) if matched is not None else None,
               "at_least_as_accurate_p50": float(matched["p50_seconds"]) if matched is not None else None}
    if matched is not None:
        # Its accuracy may be far above the notes': a latency ratio between unequal accuracies, not a
        # speed-up at equal accuracy, so both accuracies are kept beside it.
        verdict["p50_ratio_to_at_least_as_accurate"] = float(matched["p50_seconds"] / notes["p50_seconds"])
    return {"table": summary, "rows": frame, "verdict": verdict}


# -- (b, c) load and kill --------------------------------------------------------------------------------
def _serve_args(store: Path, *, scheduler: str, sleep_workers: int, max_concurrency: int,
                **models: str | None) -> list[str]:
    extra = ["--store", str(store), "--scheduler", scheduler, "--sleep-workers", str(sleep_workers),
             "--max-concurrency", str(max_concurrency)]
    for flag in ("model", "sleep_model", "test_model", "budget"):
        if models.get(flag):
            extra += [f"--{flag.replace('_', '-')}", models[flag]]
    return extra


def _load_inputs(data: str, split: str, seed: int, contexts: int,
                 questions: int) -> tuple[list[tuple[str, str]], list[tuple[str, str, Any]]]:
    """``contexts`` contexts and ``questions`` questions over them, interleaved across contexts
    (a context's questions are reused in turn when it has fewer than its share)."""
    groups = list(_by_context(_questions(data, split, seed, 10**9)).items())[:contexts]
    if not groups:
        raise ValueError(f"no questions in split {split!r} of {data}")
    chosen = [(cid, members[0].get("context")) for cid, members in groups]
    asked = []
    for turn in range(questions):
        cid, members = groups[turn % len(groups)]
        example = members[(turn // len(groups)) % len(members)]
        asked.append((cid, example.get("question"), example.get("answer")))
    return chosen, asked


def load(*, out: str | Path = "reports/deploy", data: str = "ours", split: str = "test", seed: int = 0,
         questions: int = 200, contexts: int = 20, clients: int = 8, policy: str = "wait",
         deadline: float = 60.0, retries: int = 3, backoff: float = 1.0,
         model: str | None = "local:qwen2.5-coder-0.5b", sleep_model: str | None = None,
         test_model: str | None = None, budget: str | None = None,
         scheduler: str = "break-even", sleep_workers: int = 1, max_concurrency: int = 2,
         store: str | None = None, server_url: str | None = None, kill: bool = False,
         kill_at: float = 0.5) -> dict:
    """Modes (b) and (c): ``clients`` concurrent clients ask ``questions`` questions over ``contexts``
    contexts of a ``sleeptime serve`` (started here on ``store``, a fresh one under ``out`` by default, unless
    ``server_url`` names a running one); with ``kill``, the server is SIGKILLed after ``kill_at`` of the
    answers and restarted on the same store. ``budget`` is Budget fields as JSON for the server."""
    import tempfile

    from tqdm.auto import tqdm

    from optimize.deploy.load import ServerProcess, add_contexts, ask_all, kill_and_restart, load_summary
    from programs.lm.local import find_free_port

    chosen, asked = _load_inputs(data, split, seed, contexts, questions)
    workdir = Path(out)
    workdir.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix="serve-store-", dir=workdir)) / "lc.db"
    store_path = Path(store) if store else fresh
    server = None
    url = server_url
    if url is None or kill:
        flags = _serve_args(store_path, scheduler=scheduler, sleep_workers=sleep_workers,
                            max_concurrency=max_concurrency, model=model, sleep_model=sleep_model,
                            test_model=test_model, budget=budget)
        server = ServerProcess(flags, find_free_port(), workdir / "serve.log").start()
        url = server.url
    try:
        add_contexts(url, chosen, expected_questions=max(1.0, len(asked) / len(chosen)))
        bar = tqdm(total=len(asked), desc="kill" if kill else "load", unit="q")
        if kill:
            summary = kill_and_restart(server, [c for c, _ in chosen], asked,
                                       kill_after=max(1, int(len(asked) * kill_at)),
                                       clients=clients, policy=policy, deadline=deadline,
                                       retries=retries, backoff=backoff,
                                       progress=lambda answer: bar.update(1))
        else:
            started = time.perf_counter()
            answers = ask_all(url, asked, clients=clients, policy=policy,
                              deadline=deadline, retries=retries, backoff=backoff,
                              on_answer=lambda answer: bar.update(1))
            summary = load_summary(answers, time.perf_counter() - started)
        bar.close()
        import requests

        summary["costs"] = requests.get(f"{url}/costs", timeout=60).json()
    finally:
        if server is not None:
            server.stop()
    summary.update(contexts=len(chosen), clients=clients, policy=policy)
    return summary


# -- (d) scheduler and (e) predictability from result rows -----------------------------------------------
def read_labelled_rows(specs: list[str]) -> dict[str, Any]:
    """``LABEL=PATH`` pairs (labels ``sleep-k1``, ``sleep-k2-v0``, ``test-v0``, ...) to frames of rows."""
    import pandas as pd

    from optimize.reports.rows import read_results

    frames = {}
    for spec in specs:
        label, _, path = spec.partition("=")
        if not ROWS_LABEL.match(label) or not path:
            raise ValueError(f"--rows {spec!r}: write LABEL=PATH with LABEL like sleep-k1, sleep-k2-v0 or "
                             "test-v2")
        rows = read_results(path)
        if not rows:
            raise ValueError(f"--rows {spec!r}: no result rows in {path}")
        frames[label] = pd.DataFrame(rows)
    return frames


def _token_column(frame, tokens: str, phase: str) -> Any:
    column = f"{phase}_completion_tokens" if tokens == "completion" else f"{phase}_tokens"
    return frame[column].astype(float)


def config_summaries(frames: dict[str, Any], tokens: str = "completion") -> list[dict]:
    """One summary per labelled rows file, in :meth:`CostModel.from_configs`'s keys."""
    out = []
    for label, frame in frames.items():
        kind, k, _v = ROWS_LABEL.match(label).groups()
        per_context = _token_column(frame, tokens, "sleep").groupby(frame["context_id"].astype(str)).max()
        out.append({"config_id": label, "use_sleep": kind == "sleep", "sleep_samples": int(k or 1),
                    "accuracy": float(frame["correct"].astype(bool).mean()),
                    "mean_test_tokens": float(_token_column(frame, tokens, "test").mean()),
                    "sleep_tokens_per_context": float(per_context.mean()) if kind == "sleep" else 0.0})
    return out


def context_predictability(frames: dict[str, Any], data: str, method: str,
                           model: str | None) -> dict[str, float]:
    """Mean predictability of each context's questions, by ``method`` (label, overlap, forced)."""
    per_question = question_predictability(next(iter(frames.values())), data, method, model)
    means: dict[str, list[float]] = {}
    for (cid, _qid), value in per_question.items():
        means.setdefault(cid, []).append(value)
    return {cid: sum(v) / len(v) for cid, v in means.items()}


def question_predictability(frame, data: str, method: str, model: str | None) -> dict[tuple[str, str], float]:
    from tqdm.auto import tqdm

    from programs.predictability import forced_logprob, overlap_predictability

    contexts = {}
    if method != "label":
        from optimize.data.loaders import load_examples

        contexts = {str(e.get("context_id")): e.get("context") for e in load_examples(data)}
    lm = None
    if method == "forced":
        from programs.lm import TokenLedger, make_lm

        lm = make_lm(model or "local:qwen2.5-coder-0.5b", phase="sleep", ledger=TokenLedger())
    values = {}
    for row in tqdm(frame.to_dict("records"), desc=f"predictability ({method})", unit="q"):
        key = (str(row["context_id"]), str(row["question_id"]))
        if method == "label":
            values[key] = LABEL_VALUES.get(str(row.get("predictability")), 0.5)
        elif key[0] not in contexts:
            raise ValueError(f"context {key[0]!r} of the rows is not in --data {data}; pass the data the "
                             "rows were evaluated on")
        elif method == "overlap":
            values[key] = overlap_predictability(contexts[key[0]], row["question"])
        else:
            values[key] = forced_logprob(contexts[key[0]], row["question"], lm).predictability
    return values


def scheduler_savings(frames: dict[str, Any], predictability: dict[str, float], *, questions=(1, 3, 10),
                      price_ratio: float = 10.0, tokens: str = "completion") -> Any:
    """Cost per query and accuracy of never-sleep, always-sleep and the break-even scheduler, per N.

    Each context is costed with its own measured tokens: sleeping with k costs the context's sleep
    tokens / N plus t times its mean test tokens with notes; not sleeping costs t times its mean test
    tokens at the test-time-only configuration of equal accuracy (the cost model's baseline)."""
    import pandas as pd

    from programs.scheduler import CostModel, SleepScheduler

    model = CostModel.from_configs(config_summaries(frames, tokens), price_ratio=price_ratio)
    per_context = {}
    for label, frame in frames.items():
        grouped = frame.assign(test=_token_column(frame, tokens, "test"),
                               sleep=_token_column(frame, tokens, "sleep"),
                               correct=frame["correct"].astype(bool)).groupby(frame["context_id"].astype(str))
        per_context[label] = grouped.agg(test=("test", "mean"), sleep=("sleep", "max"),
                                         accuracy=("correct", "mean"), n=("correct", "size"))
    shared = set.intersection(*(set(map(str, f.index)) for f in per_context.values())) & set(predictability)
    if not shared:
        raise ValueError("the rows files share no context (and predictability) ids; pass rows of the same "
                         "questions for every configuration")
    by_k = {o.samples: o.name for o in model.options}
    schedulers = {"never": SleepScheduler(model, policy="never"),
                  "always": SleepScheduler(model, policy="always"), "scheduler": SleepScheduler(model)}
    table = []
    for n in questions:
        for policy, scheduler in schedulers.items():
            cost = accuracy = weight = slept = 0.0
            for cid in sorted(shared):
                plan = scheduler.plan(n, predictability[cid])
                label = by_k[plan.samples] if plan.sleep else model.baseline
                row = per_context[label].loc[cid]
                w = float(per_context[model.baseline].loc[cid]["n"])
                cost += w * ((row["sleep"] / n if plan.sleep else 0.0) + price_ratio * row["test"])
                accuracy += w * row["accuracy"]
                weight += w
                slept += plan.sleep
            table.append({"questions_per_context": n, "policy": policy, "price_ratio": price_ratio,
                          "cost_per_query": cost / weight, "accuracy": accuracy / weight,
                          "slept_fraction": slept / len(shared), "contexts": len(shared)})
    frame = pd.DataFrame(table)
    for other in ("never", "always"):
        base = frame[frame["policy"] == other].set_index("questions_per_context")["cost_per_query"]
        frame[f"saving_vs_{other}"] = 1 - frame["cost_per_query"] / frame["questions_per_context"].map(base)
    return frame


def predictability_correlation(sleep, test, estimates: dict[str, dict], tokens: str = "completion") -> Any:
    """Pearson and Spearman correlation of each estimate with the per-question gain of sleep time
    (accuracy: correct with notes minus correct without; tokens: test tokens saved)."""
    import pandas as pd
    from scipy import stats

    joined = sleep.merge(test, on="question_id", suffixes=("_sleep", "_test"))
    joined["gain_correct"] = joined["correct_sleep"].astype(int) - joined["correct_test"].astype(int)
    column = "test_completion_tokens" if tokens == "completion" else "test_tokens"
    joined["gain_tokens"] = joined[f"{column}_test"].astype(float) - joined[f"{column}_sleep"].astype(float)
    rows = []
    for method, values in estimates.items():
        x = pd.Series([values.get((str(c), str(q))) for c, q in zip(joined["context_id_sleep"],
                                                                    joined["question_id"], strict=True)],
                      index=joined.index, dtype=float)
        keep = x.notna()
        for gain in ("gain_correct", "gain_tokens"):
            y = joined.loc[keep, gain]
            xs = x[keep].astype(float)
            constant = xs.nunique() < 2 or y.nunique() < 2
            pearson = (float("nan"), float("nan")) if constant else stats.pearsonr(xs, y)
            spearman = (float("nan"), float("nan")) if constant else stats.spearmanr(xs, y)
            rows.append({"method": method, "gain": gain, "n": int(keep.sum()), "pearson": float(pearson[0]),
                         "pearson_p": float(pearson[1]), "spearman": float(spearman[0]),
                         "spearman_p": float(spearman[1]), "mean_gain": float(y.mean())})
    return pd.DataFrame(rows)
