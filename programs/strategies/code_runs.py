"""Running model-written programs: the code in a reply, one sandbox run, one repair from its error."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from programs.sandbox import Sandbox, SandboxRun

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_MARKER = re.compile(r"\[\[ ## \w+ ## \]\]")


def extract_code(reply: str | None) -> str:
    """The program in a model's reply: the first fenced block if there is one, else the whole reply.

    Example:
        >>> extract_code("Here it is:\\n```python\\ntotal = 3 * 4\\n```\\nDone.")
        'total = 3 * 4'
        >>> extract_code("total = 3 * 4")
        'total = 3 * 4'
    """
    text = reply or ""
    fenced = _FENCE.search(text)
    return (fenced.group(1) if fenced else text).strip()


def reply_without_field_markers(reply: str | None) -> str:
    """A reply the adapter could not parse, without its ``[[ ## field ## ]]`` marker lines: what is left of a
    program written without its field header is still the program (the sandbox decides whether it runs).

    Example:
        >>> reply_without_field_markers("```python\\nhens = 16\\n[[ ## completed ## ]]\\n```")
        '```python\\nhens = 16\\n```'
    """
    return "\n".join(line for line in (reply or "").splitlines() if not _MARKER.fullmatch(line.strip()))


def format_number(value: int | float) -> str:
    """A computed value as a reader expects it: whole floats without ``.0``, others rounded to 6 places.

    Example:
        >>> format_number(80.0), format_number(1 / 3), format_number(12), format_number(0.1 + 0.2)
        ('80', '0.333333', '12', '0.3')
    """
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{round(value, 6):f}".rstrip("0").rstrip(".")
    return str(value)


def readable_name(name: str) -> str:
    """A variable name as words: ``scones_left_after_market`` -> ``scones left after market``.

    Example:
        >>> readable_name("scones_left_after_market")
        'scones left after market'
    """
    return " ".join(part for part in name.split("_") if part) or name


@dataclass(frozen=True)
class CodeAttempt:
    """The last program tried, its run, the repairs it took, what is still wrong (None: usable), the time
    spent running programs.

    Example:
        >>> attempt = CodeAttempt(code="x = 1", run=SandboxRun(values={"x": 1}), repairs=0, problem=None)
        >>> attempt.ok
        True
    """

    code: str
    run: SandboxRun
    repairs: int
    problem: str | None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the last run gave what was asked for."""
        return self.problem is None


def run_with_one_repair(sandbox: Sandbox, code: str, *, problem_of: Callable[[SandboxRun], str | None],
                        repair: Callable[[str, str], str]) -> CodeAttempt:
    """Run ``code``; if ``problem_of`` finds a problem with the run, ``repair(code, problem)`` once, rerun."""
    run = sandbox.run(code)
    problem = problem_of(run)
    if problem is None:
        return CodeAttempt(code=code, run=run, repairs=0, problem=None, seconds=run.seconds)
    fixed = repair(code, problem)
    rerun = sandbox.run(fixed)
    return CodeAttempt(code=fixed, run=rerun, repairs=1, problem=problem_of(rerun),
                       seconds=run.seconds + rerun.seconds)
