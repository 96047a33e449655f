"""Experiments: evaluate a program on examples (``evaluate``; its results file in ``results_file``, the
order questions run in ``task_order``; one Budget under each prompt adapter in ``adapter_runs``), compile
its prompts (``compile``, ``optimizers``), run Budgets as tracked experiments (``runner``), search
(``search``, ``study``) and sweep (``sweep``) Budgets, and the small end-to-end ``demo``.

May import: :mod:`programs`, :mod:`optimize.errors`, :mod:`optimize.markdown`, :mod:`optimize.data`,
:mod:`optimize.tracking` and :mod:`optimize.reports`."""
