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
from typing import Any, Callable, Iterable

from ._agreement import accepted_verification
from ._metric_specs import RANKING
from ._record import Record
from ._submission import FORMAT, SubmissionError, SubmissionFile, booked_parts, finite_number, iter_submissions, iter_verifications

__all__ = ["ENTRY_VERSION", "Entry", "Submitter", "Refused", "load_entries", "checked_entries", "load_submissions", "replaced_ids",
           "SubmissionError"]

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


@dataclass(frozen=True)
class Refused:
    """A file under ``leaderboards/`` left off the boards, and why."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


Check = Callable[[SubmissionFile], list[str]]


def load_submissions(root: str | os.PathLike[str] = "leaderboards", check: Check | None = None
                     ) -> tuple[list[tuple[Path, SubmissionFile]], list[Refused]]:
    """(every submission under ``root`` that can be shown, the files refused). Refused: a file that does not read as
    a submission, one edited after it was submitted (its content no longer hashes to its id), and, given ``check``
    (:func:`bench.publish.published_problems`), one whose cells fail it. A file is checked only where no shown
    submission supersedes it, and a refused one supersedes nothing."""
    refused: list[Refused] = []
    subs = iter_submissions(root, refuse=lambda path, message: refused.append(Refused(path, message)))
    for path, sub in subs:
        if not sub.intact:
            refused.append(Refused(path, f"this file was edited after it was submitted (its content no longer hashes to its id {sub.submission_id}); "
                                         "published files are never edited: submit a new one with --supersedes"))
    subs = [(p, s) for p, s in subs if s.intact]
    if check is None:
        return subs, refused
    booked = booked_parts(root)
    problems: dict[Path, list[str]] = {}
    while True:  # refusing a file can bring back one it superseded, which is then checked too
        replaced = replaced_ids((s for _, s in subs), booked)
        for path, sub in subs:
            if sub.submission_id not in replaced and path not in problems:
                try:
                    problems[path] = check(sub)
                except Exception as exc:  # one file's values broke a check (a seed of -1): that file only is refused
                    problems[path] = [f"its cells could not be checked: {type(exc).__name__}: {exc}"]
        bad = {p for p, _ in subs if problems.get(p)}
        if not bad:
            return subs, refused
        refused += [Refused(p, m) for p in sorted(bad) for m in problems[p]]
        subs = [(p, s) for p, s in subs if p not in bad]
def _verifications(root: str | os.PathLike[str]) -> dict[tuple[str, str], list[tuple[Path, dict[str, Any]]]]:
    out: dict[tuple[str, str], list[tuple[Path, dict[str, Any]]]] = {}
    for path, data in iter_verifications(root):
        out.setdefault((str(data.get("submission_id")), str(data.get("run_id"))), []).append((path, data))
    return out


def _verification(record: Record, found: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any] | None:
    for path, data in found:
        try:
            refused = accepted_verification(record, data)
        except Exception as exc:  # a hand-written file's values broke the check: that verification only is left out
            refused = f"{type(exc).__name__}: {exc}"
        if refused is None:
            # the re-run's own ranking numbers, shown beside the entry's: agreement is interval overlap, which leaves
            # a published number room to sit above its reproduction (adversarial review: up to 1.8x on TPR@1%FPR)
            metrics = (data.get("record") or {}).get("metrics") or {}
            return {"verified_at": data.get("verified_at"), "device": data.get("device"), "hardware": data.get("hardware", ""),
                    "file": path.name, "reproduced": {k: _number(metrics.get(k)) for k in RANKING}}
    return None


def _number(v: Any) -> float | None:
    return float(v) if finite_number(v) else None


def replaced_ids(subs: Iterable[SubmissionFile], booked: frozenset[str] = frozenset()) -> set[str]:
    """Ids of the submissions that a later one supersedes (:meth:`bench._submission.Header.may_supersede`); a part
    in ``booked`` (``republish.json``) only by another booked part, whatever the title says (a look-alike title the
    checks missed took the whole digits board off with one `supersedes`)."""
    subs = list(subs)
    headers = {s.submission_id: s.header for s in subs}
    return {old for s in subs for old in s.header.supersedes if old in headers and s.header.may_supersede(headers[old])
            and (old not in booked or s.submission_id in booked)}


def load_entries(root: str | os.PathLike[str] = "leaderboards", *, superseded: bool = False) -> list[tuple[Path, Entry]]:
    """(submission file, entry) for every cell of every submission under ``root``, in a stable order; a file that
    cannot be read, or was edited, is a SubmissionError naming it (:func:`checked_entries` reports it instead).

    Submissions that a later one supersedes under the same title, track, tier and plugins are left out (kept on disk)
    unless ``superseded`` (:func:`replaced_ids`)."""
    subs, refused = load_submissions(root)
    if refused:
        raise SubmissionError(str(refused[0]))
    return _entries(root, subs, superseded)


def checked_entries(root: str | os.PathLike[str], check: Check) -> tuple[list[tuple[Path, Entry]], list[Refused]]:
    """The entries of the submissions under ``root`` that pass ``check`` and no shown one supersedes, and the files
    refused (:func:`load_submissions`): what the boards show."""
    subs, refused = load_submissions(root, check)
    return _entries(root, subs, False), refused


def _entries(root: str | os.PathLike[str], subs: list[tuple[Path, SubmissionFile]], superseded: bool) -> list[tuple[Path, Entry]]:
    replaced = replaced_ids((s for _, s in subs), booked_parts(root))
    checks = _verifications(root)
    out = []
    for path, sub in subs:
        if sub.submission_id in replaced and not superseded:
            continue
        h = sub.header
        who = Submitter(h.title, h.paper, h.code, h.submitted_at)
        for cell in sub.cells:
            # only from the submission's own <track>/<tier>/verifications/: one filed under another board's folder
            # would vouch unseen by whoever reviews this board's changes
            found = [(p, d) for p, d in checks.get((sub.submission_id, cell.record.run_id), []) if p.parent.parent == path.parent]
            out.append((path, Entry(cell.record, who, cell.roc, _verification(cell.record, found), sub.submission_id)))
    return out
