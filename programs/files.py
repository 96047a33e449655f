"""Files written whole: the one way this project replaces a file that another process may be reading."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def replace_text(path: str | os.PathLike, text: str, *, only_if_changed: bool = False) -> None:
    """Write ``path`` whole, then put it in place: a reader (another worker, a resumed run) never sees one
    half written, and an interrupted write leaves the previous file. ``only_if_changed`` leaves a file that
    already holds ``text`` untouched (its modification time too).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "table.md"
        ...     replace_text(path, "| a |\\n")
        ...     replace_text(path, "| a |\\n", only_if_changed=True)
        ...     (path.read_text(), sorted(p.name for p in Path(folder).iterdir()))
        ('| a |\\n', ['table.md'])
    """
    path = Path(path)
    if only_if_changed and path.exists() and path.read_text(encoding="utf-8") == text:
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
