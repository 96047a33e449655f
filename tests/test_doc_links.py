"""Every relative link in the published documents points to a file that is in the repository: a table or
figure a sentence cites must be one a reader can open."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    """The link targets of markdown ``text`` that are paths in the repository (no URL, no bare anchor)."""
    return [target for target in LINK.findall(text)
            if not re.match(r"[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")]


def test_relative_links_are_found_in_text():
    text = "see [a](docs/a.md), [b](https://x.org/b), [c](#anchor) and [d](../d.png#top)"
    assert relative_links(text) == ["docs/a.md", "../d.png#top"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_resolves(document: Path):
    missing = [target for target in relative_links(document.read_text(encoding="utf-8"))
               if not (document.parent / target.split("#")[0]).exists()]
    assert not missing, f"{document.relative_to(REPO)} links to files that do not exist: {missing}"
