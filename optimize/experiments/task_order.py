"""The order an evaluation runs its questions in: grouped by context, so each learned context is made once.

Serially (or for a program without a sleep phase), the first question of each context runs before its
siblings, so the learned context is made once and the siblings find it in the store. With several threads
and a sleep phase, the sleep phase of every context is queued first and each context's questions are queued
together as soon as its learned context exists (the server's prompt-prefix cache is reused). Finished
answers are handed on in the examples' order among those finishing together, so the rows come out the same.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any


def context_group(example) -> str:
    """The context an example's question is about: its ``context_id``, else its text."""
    cid = example.get("context_id")
    return str(cid) if cid is not None else "text:" + str(hash(example.get("context")))


def presleep_possible(program, num_threads: int) -> bool:
    """Sleep all contexts ahead only with several threads and a program that has a sleep phase."""
    return (num_threads > 1 and callable(getattr(type(program), "sleep_phase", None))
            and getattr(program, "rewriter", None) is not None)


def run_by_context(examples: list, *, key: Callable[[Any], Hashable], answer: Callable[[Any], Any],
                   sleep: Callable[[Any], None] | None, num_threads: int,
                   on_answer: Callable[[Any, Any], None]) -> None:
    """Run ``answer(example)`` for every example on ``num_threads`` threads, context by context.

    With ``sleep``, ``sleep(example)`` runs first for the first example of every context, and a context's
    questions are queued once it finishes; without, a context's first question runs before its siblings.
    ``on_answer(example, result)`` is called in this thread as answers finish. On any exception (Ctrl-C
    included) the questions not started are dropped and those in flight are not waited for.

    Example:
        >>> from dspy import Example
        >>> order = []
        >>> questions = [Example(context_id=c, question_id=q) for c, q in (("a", 1), ("b", 2), ("a", 3))]
        >>> run_by_context(questions, key=lambda e: e.question_id, answer=lambda e: e.question_id * 10,
        ...                sleep=None, num_threads=1, on_answer=lambda e, result: order.append(result))
        >>> order
        [10, 20, 30]
    """
    groups: OrderedDict[str, list] = OrderedDict()
    for example in examples:
        groups.setdefault(context_group(example), []).append(example)
    position = {key(example): index for index, example in enumerate(examples)}
    pool = ThreadPoolExecutor(max_workers=num_threads)
    try:
        running: dict[Future, tuple[str, Any]] = {}

        def submit(kind: str, example) -> None:
            # Each task runs in a copy of this context: ledger scopes opened by the caller see it.
            task = answer if kind == "answer" else sleep
            running[pool.submit(contextvars.copy_context().run, task, example)] = (kind, example)

        if sleep is not None:  # every context's sleep phase first; then each context's questions together
            waiting = {group: list(members) for group, members in groups.items()}
            for members in groups.values():
                submit("sleep", members[0])
        else:  # the first question of a context makes its learned context; siblings follow it
            waiting = {group: members[1:] for group, members in groups.items()}
            for members in groups.values():
                submit("answer", members[0])
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: position[key(running[f][1])]):
                kind, example = running.pop(future)
                if kind == "answer":
                    on_answer(example, future.result())
                for member in waiting.pop(context_group(example), []):
                    submit("answer", member)
    except BaseException:
        # Ctrl-C or SIGTERM (raised here as KeyboardInterrupt): drop the questions not started and do not
        # wait for those in flight, so the run stops now instead of first answering the whole queue (every
        # context's first question is queued at once). What finished was already handed to on_answer.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
