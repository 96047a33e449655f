"""How a program draws several different samples from one LM (the values: ``programs.lm.sampling_config``).

As DSPy's own ``dspy.BestOfN`` and ``dspy.Refine`` do, each sample runs on ``lm.copy(...)`` with its own
``rollout_id`` (so DSPy's caches never hand back an earlier sample) at a non-zero temperature, and here also
with its own ``seed``, so an OpenAI-compatible server such as llama.cpp samples differently each time.
"""

from __future__ import annotations

import dspy


def active_lm(module: dspy.Module) -> dspy.BaseLM:
    """The LM ``module``'s predictors run on: their own (``set_lm``) or else the DSPy-configured one.

    Example:
        >>> import dspy
        >>> lm = dspy.LM("openai/any", api_base="http://127.0.0.1:9/v1", api_key="unused", cache=False)
        >>> with dspy.context(lm=lm):
        ...     active_lm(dspy.Predict("question -> answer")) is lm
        True
    """
    lm = module.get_lm() or dspy.settings.lm
    if lm is None:
        raise ValueError(f"{type(module).__name__} has no LM: give the Budget a model spec, call "
                         "program.set_lm(lm), or configure one with dspy.configure(lm=dspy.LM(...))")
    return lm


def rollout_lm(lm: dspy.BaseLM, index: int, *, temperature: float, seed: int) -> dspy.BaseLM:
    """The LM for sample ``index``: a copy with rollout id ``index``, ``temperature``, seed ``seed + index``.

    Example:
        >>> import dspy
        >>> lm = dspy.LM("openai/any", api_base="http://127.0.0.1:9/v1", api_key="unused", cache=False)
        >>> sampled = rollout_lm(lm, 2, temperature=0.7, seed=10)
        >>> sampled.kwargs["rollout_id"], sampled.kwargs["temperature"], sampled.kwargs["seed"]
        (2, 0.7, 12)
    """
    return lm.copy(**_sampling_config(index, temperature=temperature, seed=seed))


def _sampling_config(index: int, *, temperature: float, seed: int) -> dict:
    from programs.lm import sampling_config

    return sampling_config(index, temperature=temperature, seed=seed)
