"""Deployment: the HTTP service over a sleep-time session (``serve``), the load generator that drives it
(``load``) and the deployment measurements (``measurements``: latency, load, restarts, scheduler,
predictability).

May import: everything below it: :mod:`programs`, :mod:`optimize.errors`, :mod:`optimize.markdown`,
:mod:`optimize.data`, :mod:`optimize.tracking`, :mod:`optimize.reports` and :mod:`optimize.experiments`;
not :mod:`optimize.bench` or :mod:`optimize.cli`."""
