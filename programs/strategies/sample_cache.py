"""Samples of the sleep work kept in the store, so a larger k or another combine rule reuses them.

Sample ``i`` of a computed strategy is the same draw whatever ``k`` it is part of and however the samples
are combined (greedy for ``i = 0``; temperature and ``seed + i`` after), so a k=8 learned context made after
a k=4 one needs only samples 4..7, and ``union`` and ``agree`` at one k read the same programs. Each sample is
stored under its own key with what making it cost; a learned context made from reused samples is charged
their recorded cost (its ``sleep_tokens``), while the ledger shows only the calls made now (its
``sleep_tokens_spent``), as for a learned context read from the store.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from programs.learned_contexts import fetch_or_make
from programs.lm.ledger import TokenLedger, Usage
from programs.store import InMemoryStore, learned_context_key


@dataclass
class SampleCache:
    """Where a sleep module keeps its samples: a store, and the model label its keys carry.

    ``reused`` sums the recorded cost of the samples read back instead of made (since the last
    :meth:`take_reused`).

    Example:
        >>> cache = SampleCache(InMemoryStore(), model="local:m")
        >>> made = cache.fetch_or_make("3 boxes.", "fp", 0, lambda: {"quantities": {"boxes": 3}})
        >>> again = cache.fetch_or_make("3 boxes.", "fp", 0, lambda: {"quantities": {"boxes": 4}})
        >>> again, cache.take_reused().calls
        ({'quantities': {'boxes': 3}}, 0)
    """

    store: InMemoryStore
    model: str
    reused: Usage = field(default_factory=Usage)

    def fetch_or_make(self, context: str, fingerprint: str, index: int,
                      make: Callable[[], dict]) -> dict:
        """Sample ``index`` of the module whose sample ``fingerprint`` is given: stored, else ``make()``'s
        (a JSON-able dict), stored with the cost of the calls it made."""
        key = learned_context_key(context, fingerprint, json.dumps({"sample": index}), self.model)

        def make_now() -> tuple[str, Usage]:
            with TokenLedger().scope() as scope:
                sample = make()
            return json.dumps(sample, sort_keys=True), scope.usage()

        found = fetch_or_make(self.store, key, make_now, model=self.model)
        if found.store_hit:
            cost = found.cost
            self.reused += Usage(prompt_tokens=cost["prompt_tokens"],
                                 completion_tokens=cost["completion_tokens"], seconds=cost["seconds"])
        return json.loads(found.learned_context)

    def take_reused(self) -> Usage:
        """The recorded cost of the samples reused since the last call, and start counting again."""
        reused, self.reused = self.reused, Usage()
        return reused


def keeps_samples(module: object) -> bool:
    """Whether a sleep module keeps its samples in a :class:`SampleCache` (its ``forward`` takes one).

    Example:
        >>> from programs.strategies.computed import ComputedNotes
        >>> from programs.sleep_time import SleepTimeRewriter
        >>> keeps_samples(ComputedNotes()), keeps_samples(SleepTimeRewriter())
        (True, False)
    """
    forward = getattr(type(module), "forward", None)  # on the class: DSPy warns when an instance's is read
    return forward is not None and "sample_cache" in inspect.signature(forward).parameters
