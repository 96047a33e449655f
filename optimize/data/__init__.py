"""Data: the template engine (``parsing`` reads template files, ``instances`` holds the Template and
renders it, ``sentences`` splits problems, ``checks`` validates templates), dataset generation, loaders and
template-disjoint splits.

May import: :mod:`programs` and :mod:`optimize.errors` only (it is the bottom layer of ``optimize/``).

Example:
    >>> from optimize.data.parsing import load_template  # doctest: +SKIP
    >>> from optimize.data.splits import split_by_template  # doctest: +SKIP
    >>> from optimize.data.loaders import load_examples  # doctest: +SKIP
"""
