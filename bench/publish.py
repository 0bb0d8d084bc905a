"""Publishing results to ``leaderboards/``: validate submitted records and write one entry per cell.

Entries are :class:`bench._entry.Entry` files (see there for the layout). Validation rules (each failing
rule is one message):

- the record reads as a :class:`bench.Record` (a known ``schema_version``: older ones are migrated);
  ``status`` is ``ok``;
- the track is installed, on the leaderboard, at the same version, and its split sha256 equals the
  record's (the split is recomputed by loading the track);
- the budget tier is one the track defines, the record's limits are that tier's limits, and the usage
  (shadow models, queries, device-seconds) is within them;
- provenance is complete: ``privbench_version``, ``python``, ``torch`` and ``device`` are set.
  ``git_commit`` may be null (a wheel install has no git checkout; the version then names the code);
- attack and defense each name their plugin and version;
- metrics hold the registry's headline metrics (``auc``, ``tpr@0.1%fpr``, ``tpr@1%fpr``) and utility
  holds ``test_accuracy``;
- the per-candidate scores file exists and reproduces the record's AUC (the ROC curve comes from it).

Re-running an entry is :mod:`bench.verify`'s job (a client of the runner); publishing never runs a cell.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ._entry import ENTRY_VERSION, Entry, Submitter, entry_path, load_entries, write_entry
from ._io import read_jsonl
from ._metric_specs import HEADLINE
from ._record import Record, RecordError

__all__ = [
    "ENTRY_VERSION", "DEFAULT_TOLERANCE", "REQUIRED_PROVENANCE", "Problem", "Submission",
    "validate_record", "make_entry", "submit", "load_entries", "entry_path", "roc_points",
]

REQUIRED_PROVENANCE = ("privbench_version", "python", "torch", "device")
# Absolute differences that ``verify`` accepts. Training on one CPU is deterministic, so a re-run on the
# same software usually agrees exactly; the slack covers other CPUs' float reductions.
DEFAULT_TOLERANCE = {"auc": 0.02, "tpr@0.1%fpr": 0.02, "tpr@1%fpr": 0.03, "test_accuracy": 0.02}
ROC_GRID = np.logspace(-4, 0, 41)


@dataclass(frozen=True)
class Problem:
    """Why one record cannot be published."""

    where: str  # "results.jsonl:3 (digits/none/loss/seed0)"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Submission:
    title: str | None = None
    paper: str | None = None
    code: str | None = None
    written: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class _Tracks:
    """Loads each track (and its split) once per submission."""

    def __init__(self, registry: Any):
        self.registry = registry
        self._memo: dict[str, Any] = {}

    def get(self, name: str) -> tuple[Any, str]:
        if name not in self._memo:
            track = self.registry.track(name)
            self._memo[name] = (track, track.split(track.load()).sha256)
        return self._memo[name]


def _scores_path(rec: Record, base: Path) -> Path:
    return base / (rec.scores_file or f"scores/{rec.run_id}.npz")


def validate_record(rec: Record, tracks: _Tracks, base: Path) -> list[str]:
    """The problems of one record (empty if it can be published). ``base`` is its run folder."""
    problems: list[str] = []
    if not rec.ok:
        first = rec.error.splitlines()[0] if rec.error else ""
        problems.append(f"status is {rec.status!r}, only 'ok' cells are published" + (f" ({first})" if first else ""))
    problems += _track_problems(rec, tracks)
    missing = [k for k in REQUIRED_PROVENANCE if getattr(rec.provenance, k) in (None, "")]
    if missing:
        problems.append(f"provenance incomplete: missing {', '.join(missing)}")
    for kind, part in (("attack", rec.attack), ("defense", rec.defense)):
        problems += [f"{kind} {key} is missing" for key in ("name", "plugin", "version") if getattr(part, key) in (None, "")]
    problems += _non_finite(rec)
    if rec.ok:
        problems += _result_problems(rec, base)
    return problems


def _non_finite(rec: Record) -> list[str]:
    """NaN or infinite numbers: reported here, never left to crash the write after other entries are on disk."""
    import math

    def bad(values: Any) -> list[str]:
        return [k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]

    out = [f"metric {k!r} is not a finite number" for k in bad(rec.metrics)]
    return out + [f"budget.used {k!r} is not a finite number" for k in bad(rec.budget.used)]


def _track_problems(rec: Record, tracks: _Tracks) -> list[str]:
    from ._api import PluginError

    try:
        track, sha = tracks.get(rec.track.name)
    except PluginError as exc:
        return [f"unknown track: {exc}"]
    except Exception as exc:  # a loader without its data: cannot check the split
        return [f"track {rec.track.name!r} could not be loaded to check its split: {type(exc).__name__}: {exc}"]
    problems = []
    if not getattr(track, "leaderboard", True):
        problems.append(f"track {track.name!r} is not a leaderboard track (synthetic tracks are for tests)")
    if str(rec.track.version) != str(track.version):
        problems.append(f"track version is {rec.track.version!r}, the installed {track.name!r} is version {track.version!r}")
    if rec.track.split_sha256 != sha:
        problems.append(f"split sha256 {str(rec.track.split_sha256)[:12]}… does not match track {track.name!r}'s split {sha[:12]}…")
    return problems + _budget_problems(rec, track)


def _result_problems(rec: Record, base: Path) -> list[str]:
    """Metrics and utility present, and the scores file reproducing the AUC."""
    absent = [k for k in HEADLINE if rec.metric(k) is None]
    problems = [f"metrics missing: {', '.join(absent)}"] if absent else []
    if not isinstance(rec.utility.test_accuracy, (int, float)):
        problems.append("utility.test_accuracy is missing")
    if absent:
        return problems
    path = _scores_path(rec, base)
    if not path.exists():
        return problems + [f"scores file {path} not found (the ROC curve is drawn from it)"]
    from .metrics import auc

    with np.load(path) as z:
        got = auc(z["scores"], z["is_member"])
    if abs(got - rec.metrics["auc"]) > 1e-9:
        problems.append(f"scores file {path.name} gives AUC {got:.6f}, the record says {rec.metrics['auc']:.6f}")
    return problems


def _budget_problems(rec: Record, track: Any) -> list[str]:
    tier = rec.budget.tier
    if tier not in track.budgets:
        return [f"budget tier {tier!r} is unknown to track {track.name!r}; tiers: {', '.join(track.budgets)}"]
    limits = track.budgets[tier].limits()
    out = []
    if rec.budget.limits != limits:
        out.append(f"budget limits {rec.budget.limits} are not the {tier!r} tier's {limits}")
    used = rec.budget.used
    n = sum(int(rec.metrics.get(k) or 0) for k in ("n_members", "n_nonmembers"))
    caps = {"shadow_models": limits["max_shadows"], "device_seconds": limits["device_seconds"]}
    if n:
        caps["queries"] = limits["queries_per_candidate"] * n
    for key, cap in caps.items():
        if used.get(key) is not None and used[key] > cap:
            out.append(f"budget not respected: used {used[key]:g} {key.replace('_', ' ')}, the {tier!r} tier allows {cap:g}")
    return out


def roc_points(scores: np.ndarray, is_member: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve on a log-spaced FPR grid (largest TPR with FPR ≤ each grid point), rounded."""
    from .metrics import roc

    fpr, tpr, _ = roc(scores, is_member)
    # the exact lowest non-zero FPR keeps the low-FPR end of the log-log plot honest
    n0 = int(np.count_nonzero(~np.asarray(is_member, bool)))
    grid = np.unique(np.concatenate([[1.0 / max(n0, 1)], ROC_GRID[ROC_GRID >= 1.0 / max(n0, 1)]]))
    ys = [float(tpr[fpr <= g].max()) if np.any(fpr <= g) else 0.0 for g in grid]
    return {"fpr": [round(float(g), 6) for g in grid], "tpr": [round(y, 6) for y in ys]}


def make_entry(record: Record, base: Path, sub: Submission) -> Entry:
    from ._records import now

    with np.load(_scores_path(record, base)) as z:
        roc = roc_points(z["scores"], z["is_member"])
    return Entry(record=record, submission=Submitter(sub.title, sub.paper, sub.code, now()), roc=roc, tolerance=dict(DEFAULT_TOLERANCE))


def _latest_records(file: Path, sub: Submission) -> list[tuple[int, Record]]:
    """The records of one results file, the latest line per run_id (a resumed run appends a cell again)."""
    def refuse(i: int, why: str) -> None:
        sub.problems.append(Problem(f"{file.name}:{i}", f"not a JSON record ({why})"))

    latest: dict[Any, tuple[int, Record]] = {}
    for i, data in read_jsonl(file, refuse):
        try:
            rec = Record.from_dict(data, f"{file}:{i}")
        except RecordError as exc:
            sub.problems.append(Problem(f"{file.name}:{i}", str(exc)))
            continue
        latest[rec.run_id] = (i, rec)
    return sorted(latest.values(), key=lambda t: t[0])


def submit(
    results: Iterable[str | os.PathLike[str]],
    root: str | os.PathLike[str] = "leaderboards",
    *,
    title: str | None = None,
    paper: str | None = None,
    code: str | None = None,
    registry: Any = None,
    skip_invalid: bool = False,
) -> Submission:
    """Validate every record of ``results`` and write one entry per cell under ``root``.

    All or nothing unless ``skip_invalid``: if any record has a problem, nothing is written.
    """
    from ._plugins import load_plugins

    if registry is None:
        _, registry = load_plugins(())
    sub = Submission(title=title, paper=paper, code=code)
    tracks = _Tracks(registry)
    good: list[tuple[Record, Path]] = []
    for res in results:
        p = Path(res)
        file = p / "results.jsonl" if p.is_dir() else p
        if not file.exists():
            sub.problems.append(Problem(str(file), "no such results file"))
            continue
        for i, rec in _latest_records(file, sub):
            found = validate_record(rec, tracks, file.parent)
            try:  # names that would leave the leaderboard root are refused before anything is written
                entry_path(Path(root), rec)
            except ValueError as exc:
                found.append(str(exc))
            sub.problems += [Problem(f"{file.name}:{i} ({rec.label()})", m) for m in found]
            if not found:
                good.append((rec, file.parent))
    if sub.problems and not skip_invalid:
        return sub
    for rec, base in good:
        path = entry_path(Path(root), rec)
        write_entry(path, make_entry(rec, base, sub))
        sub.written.append(path)
    return sub
