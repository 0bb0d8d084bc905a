"""Published leaderboard entries as a type: :class:`Entry` (a record plus its submission, ROC and verification).

An entry is one JSON file per cell, ``leaderboards/<track>/<budget>/<defense>__<attack>__seed<k>__<id>.json``::

    {"entry_version": 1, "entry_id": ..., "record": {<the result record, minus error/scores_file>},
     "submission": {"title", "paper", "code", "submitted_at"},
     "roc": {"fpr": [...], "tpr": [...]},            # log-spaced FPR grid, enough for the plots
     "tolerance": {"auc": ..., ...},                 # what ``verify`` accepts as "agrees"
     "verification": null | {"verified_at", "hardware", "metrics", ...}}

The record inside is read through :class:`~bench._record.Record` (so version-1 records are migrated);
an entry is never rewritten except its ``verification``, which :func:`set_verification` changes alone.
"""

from __future__ import annotations

import json
import re
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._io import atomic_write_text
from ._record import Record, RecordError

__all__ = ["ENTRY_VERSION", "Entry", "Submitter", "load_entries", "entry_path", "write_entry", "set_verification"]

ENTRY_VERSION = 1


@dataclass(frozen=True)
class Submitter:
    """Who submitted an entry: shown in the tables."""

    title: str | None = None
    paper: str | None = None
    code: str | None = None
    submitted_at: str | None = None


@dataclass(frozen=True)
class Entry:
    record: Record
    submission: Submitter = field(default_factory=Submitter)
    roc: dict[str, list[float]] | None = None
    tolerance: dict[str, float] = field(default_factory=dict)
    verification: dict[str, Any] | None = None
    entry_version: int = ENTRY_VERSION

    @property
    def entry_id(self) -> str:
        return self.record.run_id

    def to_dict(self) -> dict[str, Any]:
        rec = {k: v for k, v in self.record.to_dict().items() if k not in ("error", "scores_file")}
        return {
            "entry_version": self.entry_version, "entry_id": self.entry_id, "record": rec,
            "submission": dict(vars(self.submission)), "roc": self.roc, "tolerance": dict(self.tolerance),
            "verification": self.verification,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "an entry") -> "Entry":
        if data.get("entry_version") != ENTRY_VERSION:
            raise RecordError(f"{where}: entry_version {data.get('entry_version')!r} is not {ENTRY_VERSION}; upgrade privbench")
        if not isinstance(data.get("record"), dict):
            raise RecordError(f"{where}: an entry holds its result record under 'record'")
        sub = data.get("submission") or {}
        return cls(
            record=Record.from_dict(data["record"], where),
            submission=Submitter(**{k: sub.get(k) for k in ("title", "paper", "code", "submitted_at")}),
            roc=data.get("roc"),
            tolerance=dict(data.get("tolerance") or {}),
            verification=data.get("verification"),
        )


def load_entries(root: str | os.PathLike[str] = "leaderboards") -> list[tuple[Path, Entry]]:
    """Every entry under ``root`` (``<track>/<budget>/*.json``), in a stable order; a bad entry names its file."""
    out = []
    for path in sorted(Path(root).glob("*/*/*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "record" in data and "entry_version" in data:
            out.append((path, Entry.from_dict(data, str(path))))
    return out


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def entry_path(root: str | os.PathLike[str], record: Record) -> Path:
    """Where an entry lives under ``root``; a name that could leave the root (``../``, ``/``) is refused."""
    parts = {"track": record.track.name, "tier": record.budget.tier, "defense": record.defense.name, "attack": record.attack.name,
             "run id": record.run_id[:12]}
    for what, value in parts.items():
        if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
            raise ValueError(f"{what} name {value!r} is not a plain name (letters, digits, '_', '.', '+', '-'); refusing to write it")
    name = f"{record.defense.name}__{record.attack.name}__seed{int(record.seed)}__{record.run_id[:12]}.json"
    path = Path(root) / record.track.name / record.budget.tier / name
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise ValueError(f"entry path {path} leaves the leaderboard root {root}")
    return path


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"


def write_entry(path: str | os.PathLike[str], entry: Entry) -> None:
    atomic_write_text(path, _dump(entry.to_dict()))


def set_verification(path: str | os.PathLike[str], verification: dict[str, Any] | None) -> None:
    """Set (or, with None, clear) an entry's ``verification``; the published record stays byte for byte."""
    data = json.loads(Path(path).read_text())
    data["verification"] = verification
    atomic_write_text(path, _dump(data))
