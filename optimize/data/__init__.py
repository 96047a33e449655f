"""Data: the template engine (parsing, instances, checks), dataset generation, loaders and
template-disjoint splits.

May import: :mod:`programs` and :mod:`optimize.errors` only (it is the bottom layer of ``optimize/``).

Example:
    >>> from optimize.data import load_template, split_by_template  # doctest: +SKIP
    >>> from optimize.data.loaders import load_examples  # doctest: +SKIP
"""

from optimize.data.expressions import ExpressionError, evaluate
from optimize.data.instances import Template, TemplateError
from optimize.data.parsing import load_template, load_templates
from optimize.data.splits import SplitError, split_by_template, spread_contexts

__all__ = [
    "ExpressionError",
    "SplitError",
    "spread_contexts",
    "Template",
    "TemplateError",
    "evaluate",
    "load_template",
    "load_templates",
    "split_by_template",
]
