"""Result records: the schema of DESIGN.md, atomic appends to results.jsonl, per-candidate score files."""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import tempfile
import threading
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = ["SCHEMA_VERSION", "STATUSES", "ResultsWriter", "read_records", "provenance", "now"]

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "timeout", "over_budget")
RESULTS = "results.jsonl"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(device: str) -> dict[str, Any]:
    return {
        "privbench_version": _version("privbench"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "device": device,
    }


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "value"):
        return o.value
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=_json_default, allow_nan=False)


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records of a results.jsonl (or a run folder), the latest line per run_id winning.

    A torn last line from an interrupted write is reported and skipped; earlier lines are kept.
    """
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS
    if not p.exists():
        return []
    by_id: dict[str, dict[str, Any]] = {}
    lines = p.read_text().splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            warnings.warn(f"{p}:{i}: unreadable result line skipped (interrupted write?)", RuntimeWarning)
            continue
        if not isinstance(rec, dict) or "run_id" not in rec:
            warnings.warn(f"{p}:{i}: not a privbench result record, skipped", RuntimeWarning)
            continue
        by_id[rec["run_id"]] = rec
    return list(by_id.values())


class ResultsWriter:
    """Appends one JSON line per cell (a single write + fsync) and saves per-candidate scores atomically."""

    def __init__(self, out_dir: str | os.PathLike[str]):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "scores").mkdir(exist_ok=True)
        self.path = self.out_dir / RESULTS
        self._lock = threading.Lock()
        self._repair_tail()

    def _repair_tail(self) -> None:
        # An interrupted append can leave a line without its newline; end it so the next record starts clean.
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def done(self) -> dict[str, dict[str, Any]]:
        return {r["run_id"]: r for r in read_records(self.path)}

    def save_scores(self, run_id: str, arrays: dict[str, np.ndarray]) -> str:
        final = self.out_dir / "scores" / f"{run_id}.npz"
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".", suffix=".npz")
        os.close(fd)
        try:
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return str(final.relative_to(self.out_dir))

    def append(self, record: dict[str, Any]) -> None:
        line = (dumps(record) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


def iter_jsonl(paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
    for p in paths:
        yield from read_records(p)
