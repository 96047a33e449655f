"""The benchmark: the paper's seven questions measured on held-out data (see :mod:`optimize.benchmark`)."""
