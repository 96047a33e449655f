"""Split a word problem into sentences, and into (context, question): the question is its final question.

Decimals (``$0.7``), abbreviations (``Dr.``) and initials (``J.``) do not end a sentence.

Example:
    >>> split_context_question("Ann has 3.5 kg of flour. Dr. Ruiz adds 2 kg. How much flour is there?")
    ('Ann has 3.5 kg of flour. Dr. Ruiz adds 2 kg.', 'How much flour is there?')
"""

from __future__ import annotations

import re

__all__ = ["split_sentences", "split_context_question"]

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "jr",
    "sr",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "mt",
    "no",
    "approx",
    "fig",
    "inc",
    "ltd",
    "co",
    "u.s",
    "a.m",
    "p.m",
    "sgt",
    "capt",
    "gen",
    "rev",
    "hon",
    "ave",
    "blvd",
}
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+")


def split_sentences(text: str) -> list[str]:
    """Split at sentence ends, keeping decimals ($0.7), abbreviations (Dr.) and initials (J.) intact.

    Example:
        >>> split_sentences("Dr. Lee pays $0.7 per pen. He buys 3. How much does he pay?")
        ['Dr. Lee pays $0.7 per pen.', 'He buys 3.', 'How much does he pay?']
    """
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        punctuation = match.group(0).strip()
        if punctuation.startswith("."):
            words = text[start : match.start()].split()
            last = words[-1].lower().lstrip("(\"'") if words else ""
            if (
                last in _ABBREVIATIONS
                or re.fullmatch(r"[a-z]", last)
                or re.fullmatch(r"(?:[a-z]\.)+[a-z]", last)
            ):
                continue
        following = text[match.end() : match.end() + 1]
        if following and following.islower():
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def split_context_question(text: str) -> tuple[str, str]:
    """Split a problem into (context, question): the question is the last sentence with a '?'
    (plus anything after it), else the last sentence.

    Example:
        >>> split_context_question("Ann has 3.5 kg of flour. Dr. Ruiz adds 2 kg. How much flour is there?")
        ('Ann has 3.5 kg of flour. Dr. Ruiz adds 2 kg.', 'How much flour is there?')
    """
    text = text.strip()
    sentences = split_sentences(text)
    if not sentences:
        return "", ""
    index = len(sentences) - 1
    for position in range(len(sentences) - 1, -1, -1):
        if "?" in sentences[position]:
            index = position
            break
    context = " ".join(sentences[:index]).strip()
    question = " ".join(sentences[index:]).strip()
    return context, question

