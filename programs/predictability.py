"""How predictable a question is from its context: the paper's log p(q | c), measured where servers allow.

OpenAI-compatible servers (llama.cpp included) return probabilities only for tokens they generate, so
``log p(q | c)`` cannot be read off one request. :func:`forced_logprob` gets it by forced decoding on
llama.cpp's own endpoints: the question is tokenized (``/tokenize``), and for each position one token is
generated (``/completion`` with ``n_probs``) after the context and the question's previous tokens; the
log-probability of the question's actual next token is read from the returned top list. Each request adds
one token to a cached prefix, so a question costs about one token of prompt processing per token. A
token outside the top list gets the smallest listed log-probability (an upper bound, noted as ``missed``).
:func:`overlap_predictability` is a free proxy (no model) for servers without those endpoints.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from programs.lm.ledger import LMCall, TokenLedger

METHODS = ("forced", "overlap")
PROMPT = "Facts: {context}\nA question someone will ask about these facts:"
_WORD = re.compile(r"[a-z]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_STOP = frozenset("""a an the of to in on at for by with and or is are was were be been does do did how many
much what which who whom whose when where why there their they them he she his her it its each every all some
any this that these those than then as from into per after before if would had have has one more left total
""".split())
_COUNTERFACTUAL = frozenset("if had instead suppose supposing would were".split())


@dataclass(frozen=True)
class QuestionLogprob:
    """log p(q | c) by forced decoding: the total, per token, the token count and how many tokens fell
    outside the server's top list (their log-probability is an upper bound).

    Example:
        >>> logprob = QuestionLogprob(total=-6.0, tokens=12, missed=0)
        >>> logprob.mean, round(logprob.predictability, 3)
        (-0.5, 0.607)
    """

    total: float
    tokens: int
    missed: int

    @property
    def mean(self) -> float:
        return self.total / self.tokens if self.tokens else 0.0

    @property
    def predictability(self) -> float:
        """exp(mean log-probability): the geometric-mean probability of a question token, in 0..1."""
        return math.exp(self.mean)


def _words(text: str) -> list[str]:
    """Content words, crudely singular (a trailing s dropped)."""
    return [w[:-1] if w.endswith("s") and len(w) > 3 else w for w in _WORD.findall(text.lower())
            if w not in _STOP]


def overlap_predictability(context: str, question: str) -> float:
    """A model-free proxy in 0..1: the share of the question's content words found in the context, halved
    for each number the context does not hold and for a counterfactual ("if ... had", "instead").

    Example:
        >>> context = "Amelia bakes 7 trays of scones. She sells 56 of them."
        >>> overlap_predictability(context, "How many scones does Amelia bake?")
        1.0
        >>> overlap_predictability(context, "If Amelia had baked 2 more trays, how many would be sold?") < 0.5
        True
    """
    seen = set(_words(context))
    content = _words(question)
    score = sum(w in seen for w in content) / len(content) if content else 0.5
    novel_numbers = set(_NUMBER.findall(question)) - set(_NUMBER.findall(context))
    score *= 0.5 ** len(novel_numbers)
    if _COUNTERFACTUAL & set(_WORD.findall(question.lower())):
        score *= 0.5
    return score


def _server_root(lm: Any) -> str:
    base = lm if isinstance(lm, str) else (getattr(lm, "kwargs", None) or {}).get("api_base")
    if not base:
        raise ValueError("forced decoding needs an LM with an api_base (a local: model or "
                         "openai/<model>@http://host:port/v1 served by llama.cpp), or its base URL")
    return re.sub(r"/v1/?$", "", base.rstrip("/"))


def _post(url: str, body: dict, timeout: float) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def forced_logprob(context: str, question: str, lm: Any, *, top: int = 20, ledger: TokenLedger | None = None,
                   timeout: float = 120.0) -> QuestionLogprob:
    """log p(question | context) from a llama.cpp server by forced decoding (see the module docstring).

    ``lm`` is a metered LM from :func:`programs.lm.make_lm` (its calls are recorded in its ledger, phase
    "sleep") or the server's base URL (then in ``ledger`` if given). Raises ``ValueError`` when the
    server lacks llama.cpp's ``/tokenize`` and ``/completion`` endpoints.
    """
    root = _server_root(lm)
    ledger = ledger if ledger is not None else getattr(lm, "ledger", None)
    label = getattr(lm, "label", "llama.cpp")
    try:
        prefix = _post(f"{root}/tokenize", {"content": PROMPT.format(context=context)}, timeout)["tokens"]
        target = _post(f"{root}/tokenize", {"content": " " + question.strip()}, timeout)["tokens"]
    except (urllib.error.HTTPError, KeyError) as exc:
        raise ValueError(f"the server at {root} has no llama.cpp /tokenize endpoint ({exc}); use "
                         "method='overlap' for servers other than llama.cpp") from exc
    total, missed = 0.0, 0
    for position, token in enumerate(target):
        started = time.perf_counter()
        body = {"prompt": prefix + target[:position], "n_predict": 1, "n_probs": top, "temperature": 0,
                "cache_prompt": True}
        reply = _post(f"{root}/completion", body, timeout)
        probabilities = (reply.get("completion_probabilities") or [{}])[0].get("top_logprobs") or []
        if not probabilities:
            raise ValueError(f"the server at {root} returned no token probabilities; it needs llama.cpp's "
                             "n_probs support (use method='overlap' otherwise)")
        found = [p["logprob"] for p in probabilities if p.get("id") == token]
        missed += not found
        total += found[0] if found else min(p["logprob"] for p in probabilities)
        if ledger is not None:
            timings = reply.get("timings") or {}
            ledger.record(LMCall(label, "sleep", int(reply.get("tokens_evaluated") or 0), 1,
                                 time.perf_counter() - started,
                                 cached_prompt_tokens=int(timings.get("cache_n") or 0)))
    return QuestionLogprob(total, len(target), missed)


def predictability(context: str, question: str, lm: Any = None, *, method: str | None = None) -> float:
    """How predictable ``question`` is from ``context``, in 0..1 (higher: notes made in advance are likelier
    to hold its answer). ``method="forced"`` (the default when ``lm`` is given) is exp of the mean token
    log-probability of the question given the context on a llama.cpp server; ``"overlap"`` (the default
    without ``lm``) is the free lexical proxy :func:`overlap_predictability`.

    Example:
        >>> predictability("Ann has 3 bags of 4 apples.", "How many apples does Ann have?")
        1.0
    """
    method = method or ("forced" if lm is not None else "overlap")
    if method not in METHODS:
        raise ValueError(f"unknown predictability method {method!r}; use one of {METHODS}")
    if method == "overlap":
        return overlap_predictability(context, question)
    if lm is None:
        raise ValueError("method='forced' needs lm= (a llama.cpp-served LM from make_lm, or its base URL)")
    return forced_logprob(context, question, lm).predictability
