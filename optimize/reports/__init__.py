"""Reports, built from result rows: the rows files (``rows``), metrics and intervals (``metrics``),
analysis across configs (``analysis``), Pareto fronts (``pareto``), figures (``figures``), the tables
logged with a run (``tables``) and paired comparisons of results files (``compare``).

May import: :mod:`programs`, :mod:`optimize.errors`, :mod:`optimize.markdown`, :mod:`optimize.data` and
:mod:`optimize.tracking`."""
