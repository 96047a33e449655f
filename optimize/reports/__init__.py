"""Reports, built from result rows: the rows files (``rows``), metrics and intervals (``metrics``),
analysis across configs (``analysis``), Pareto fronts (``pareto``), figures (``figures``), the tables
logged with a run (``tables``), paired comparisons of results files (``compare``) and the server settings
rows were made under (``server_settings``).

May import: :mod:`programs`, :mod:`optimize.errors`, :mod:`optimize.markdown`, :mod:`optimize.data` and
:mod:`optimize.tracking`."""
