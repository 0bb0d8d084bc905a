"""Published leaderboard entries as a type: :class:`Entry` (one cell of a submission, with its verification).

Entries are read from submission files (:mod:`bench._submission`): one ``<track>/<tier>/<submission_id>.jsonl``
per submission. :func:`load_entries` yields one entry per cell of every submission that no later submission
supersedes, each marked verified only by a separate verification file that holds an agreeing official
reproduction (:func:`bench._agreement.accepted_verification`); nothing written inside a submission counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ._agreement import accepted_verification
from ._record import Record
from ._submission import FORMAT, SubmissionError, SubmissionFile, iter_submissions, iter_verifications

__all__ = ["ENTRY_VERSION", "Entry", "Submitter", "load_entries", "load_submissions", "replaced_ids", "SubmissionError"]

ENTRY_VERSION = FORMAT


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
    submission: Submitter = Submitter()
    roc: dict[str, list[float]] | None = None
    verification: dict[str, Any] | None = None  # from an accepted verification file: verified_at, device, hardware, file
    submission_id: str | None = None
    entry_version: int = ENTRY_VERSION

    @property
    def entry_id(self) -> str:
        return f"{self.submission_id}/{self.record.run_id}"

    @property
    def title(self) -> str | None:
        return self.submission.title

    @property
    def paper(self) -> str | None:
        return self.submission.paper

    @property
    def code(self) -> str | None:
        return self.submission.code

    @property
    def verified(self) -> bool:
        return self.verification is not None


def load_submissions(root: str | os.PathLike[str] = "leaderboards") -> list[tuple[Path, SubmissionFile]]:
    """Every submission under ``root``; an edited one (its content no longer hashes to its id) is an error naming it."""
    subs = iter_submissions(root)
    for path, sub in subs:
        if not sub.intact:
            raise SubmissionError(f"{path} was edited after it was submitted (its content no longer hashes to its id "
                                  f"{sub.submission_id}); published files are never edited: submit a new one with --supersedes")
    return subs


def _verifications(root: str | os.PathLike[str]) -> dict[tuple[str, str], list[tuple[Path, dict[str, Any]]]]:
    out: dict[tuple[str, str], list[tuple[Path, dict[str, Any]]]] = {}
    for path, data in iter_verifications(root):
        out.setdefault((str(data.get("submission_id")), str(data.get("run_id"))), []).append((path, data))
    return out


def _verification(record: Record, found: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any] | None:
    for path, data in found:
        if accepted_verification(record, data) is None:
            return {"verified_at": data.get("verified_at"), "device": data.get("device"), "hardware": data.get("hardware", ""),
                    "file": path.name}
    return None


def replaced_ids(subs: Iterable[SubmissionFile]) -> set[str]:
    """Ids of the submissions that a later one supersedes (:meth:`bench._submission.Header.may_supersede`)."""
    subs = list(subs)
    headers = {s.submission_id: s.header for s in subs}
    return {old for s in subs for old in s.header.supersedes if old in headers and s.header.may_supersede(headers[old])}


def load_entries(root: str | os.PathLike[str] = "leaderboards", *, superseded: bool = False) -> list[tuple[Path, Entry]]:
    """(submission file, entry) for every cell of every submission under ``root``, in a stable order.

    Submissions that a later one supersedes under the same title, track, tier and plugins are left out (kept on disk)
    unless ``superseded`` (:func:`replaced_ids`)."""
    subs = load_submissions(root)
    replaced = replaced_ids(s for _, s in subs)
    checks = _verifications(root)
    out = []
    for path, sub in subs:
        if sub.submission_id in replaced and not superseded:
            continue
        h = sub.header
        who = Submitter(h.title, h.paper, h.code, h.submitted_at)
        for cell in sub.cells:
            found = checks.get((sub.submission_id, cell.record.run_id), [])
            out.append((path, Entry(cell.record, who, cell.roc, _verification(cell.record, found), sub.submission_id)))
    return out
