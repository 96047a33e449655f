"""``sleeptime benchmark``: the command's entry point. The benchmark lives in :mod:`optimize.bench`:

- :mod:`optimize.bench.questions`: the seven questions (title, paper's claim, groups, table, summary section);
- :mod:`optimize.bench.presets`: what each size (quick, standard, full) runs;
- :mod:`optimize.bench.estimate`: the time and power estimates printed before a run;
- :mod:`optimize.bench.orchestration`: running the groups question by question, resumable from raw rows;
- :mod:`optimize.bench.tables` / :mod:`optimize.bench.sections`: the question tables and summary text;
- :mod:`optimize.bench.latency`: question 7's measurements;
- :mod:`optimize.bench.cli`: the command line.
"""

from __future__ import annotations

from optimize.bench.cli import register

__all__ = ["register"]
