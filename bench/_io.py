"""File helpers shared by records, entries, the site and the model cache: atomic writes and one JSONL reader."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["atomic_write", "atomic_write_text", "read_jsonl"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it into place.

    Readers never see a half-written file; an interrupted writer leaves at most a hidden ``.<name>.*.tmp``
    (which ``privbench cache gc`` recognises as debris).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def read_jsonl(path: str | os.PathLike[str], on_error: Callable[[int, str], None]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each JSON object line of ``path``; blank lines are skipped.

    A line that is not a JSON object (a torn tail from an interrupted append, say) is passed to
    ``on_error(line number, why)`` and skipped, so the caller decides whether it warns or refuses.
    """
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                on_error(i, f"not JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                on_error(i, f"a JSON {type(obj).__name__}, not an object")
                continue
            yield i, obj
