"""GSM-Symbolic style templates (both formats of docs/template-format.md): one import for all of it.

The work is split by job; this module gathers the public names so callers need one import:

- :mod:`optimize.data.parsing`: read template files (``load_template``, ``load_templates``, ...).
- :mod:`optimize.data.instances`: the :class:`Template` itself, rejection sampling and rendering.
- :mod:`optimize.data.sentences`: split a problem into sentences and into (context, question).
- :mod:`optimize.data.checks`: ``validate_template`` for ours, ``coverage`` of third-party files.

Example:
    >>> template = load_template("data/templates/mq-0001.json")
    >>> context, question = split_context_question("Ann has 3 pens. How many pens does Ann have?")
    >>> question
    'How many pens does Ann have?'
"""

from optimize.data.checks import (
    CoverageResult,
    check_template,
    coverage,
    final_answer_expression,
    validate_template,
)
from optimize.data.instances import (
    DEFAULT_MAX_TRIES,
    DEFAULT_STEP_BUDGET,
    InitLine,
    Instance,
    QuestionSpec,
    Template,
    TemplateError,
    render,
)
from optimize.data.parsing import load_template, load_templates, template_paths, third_party_id
from optimize.data.sentences import split_context_question, split_sentences

__all__ = [
    "TemplateError",
    "Template",
    "Instance",
    "QuestionSpec",
    "InitLine",
    "DEFAULT_MAX_TRIES",
    "DEFAULT_STEP_BUDGET",
    "load_template",
    "load_templates",
    "template_paths",
    "third_party_id",
    "render",
    "split_context_question",
    "split_sentences",
    "final_answer_expression",
    "validate_template",
    "CoverageResult",
    "check_template",
    "coverage",
]
