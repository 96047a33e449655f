"""The benchmark: the paper's seven questions measured on held-out data.

``questions`` (title, claim, groups, table, summary section of each), ``presets`` (what quick, standard
and full run), ``estimate`` (time and power printed before a run), ``orchestration`` (running the groups,
resumable from raw rows), ``tables`` / ``sections`` / ``summary`` (question tables and summary text),
``latency`` (question 7) and ``throughput`` (the local server's slots). Its command is
:mod:`optimize.cli.benchmark`.

May import: everything below it: :mod:`programs`, :mod:`optimize.errors`, :mod:`optimize.markdown`,
:mod:`optimize.data`, :mod:`optimize.tracking`, :mod:`optimize.reports` and :mod:`optimize.experiments`;
not :mod:`optimize.deploy` or :mod:`optimize.cli`."""
