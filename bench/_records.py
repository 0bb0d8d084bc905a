"""Result records: building them (one place), appending them to results.jsonl, reading them back.

The runner builds every record here: :class:`RecordDraft` while a cell runs (ended by ``ok``/``fail``) and
:func:`orphan_record` for a cell that never got that far. ``results.jsonl`` gets one line per cell, a single
write + fsync; per-candidate scores go to ``scores/<run_id>.npz`` atomically.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import subprocess
import threading
import warnings
from dataclasses import asdict, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ._io import atomic_write, read_jsonl
from ._record import (SCHEMA_VERSION, STATUSES, AttackRef, BudgetUse, DefenseRef, Provenance, Record, RecordError, TrackRef,
                      Utility, plain)

__all__ = [
    "SCHEMA_VERSION", "STATUSES", "RESULTS", "Record", "RecordError", "RecordDraft", "orphan_record",
    "ResultsWriter", "read_records", "iter_jsonl", "provenance", "now", "dumps",
]

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


LIBRARIES = ("numpy", "scipy", "scikit-learn", "torch", "opacus")


def provenance(device: str, plugins: Mapping[str, Any] | None = None) -> Provenance:
    return Provenance(privbench_version=_version("privbench"), git_commit=_git_commit(), python=platform.python_version(),
                      torch=_version("torch"), device=device, libraries={d: _version(d) for d in LIBRARIES},
                      plugins=dict(plugins) if plugins else None)


def dumps(record: Record | Mapping[str, Any]) -> str:
    """One JSON line; NaN and infinity are refused (a record holds finite numbers or null)."""
    return json.dumps(plain(record), sort_keys=True, allow_nan=False)


class RecordDraft:
    """A cell's record while the runner fills it in; ``ok()`` or ``fail()`` turns it into the :class:`Record`."""

    def __init__(self, run_id: str, track: TrackRef, attack: AttackRef, defense: DefenseRef, seed: int, tier: str, device: str):
        self.run_id, self.track, self.attack, self.defense, self.seed = run_id, track, attack, defense, seed
        self.budget = BudgetUse(tier)
        self.utility = Utility()
        self.device = device
        self.isolation: dict[str, Any] | None = None
        self.plugins: dict[str, Any] | None = None  # distribution and versions of the cell's plugins (provenance)
        self.identity: dict[str, Any] | None = None  # what the run id hashes beside the names (bench._identity)
        self.created_at = now()

    def resolved(self, attack: Any, defense: Any) -> None:
        """The plugins' resolved parameters (defaults included) and versions."""
        from ._api import ThreatModel

        self.attack = replace(self.attack, params=dict(attack.params), version=attack.version, threat_model=ThreatModel(attack.threat_model).label)
        self.defense = replace(self.defense, params=dict(defense.params), version=defense.version)

    def trained(self, utility: Mapping[str, Any], defense_report: Mapping[str, Any]) -> None:
        """The target's utility and what the defense reported about its training."""
        self.utility = Utility(**{k: utility.get(k) for k in ("train_accuracy", "test_accuracy")})
        self.defense = replace(self.defense, report=dict(defense_report))

    def limits(self, tier: str, limits: Mapping[str, Any]) -> None:
        self.budget = BudgetUse(tier, dict(limits), dict(self.budget.used))

    def used(self, used: Mapping[str, Any]) -> None:
        self.budget = BudgetUse(self.budget.tier, dict(self.budget.limits), dict(used))

    def isolated(self, *runs: Mapping[str, Any] | None) -> None:
        """How the attack ran (worker process or thread, sandboxed or not). Of several runs (a pool cell's targets, a
        scenario run), the least isolated one's: one run without a private /tmp (the kernel refused it; a cell might
        make it refuse, holding namespaces up to the per-user limit) is the whole record's."""
        seen = [dict(r) for r in runs if r is not None]
        for key in ("sandboxed", "private_tmp"):
            if seen and any(key in r for r in seen):
                seen[0][key] = all(bool(r.get(key)) for r in seen)
        self.isolation = seen[0] if seen else None

    def _record(self, status: str, error: str | None, metrics: dict[str, Any], scenarios: dict[str, Any] | None, **extra: Any) -> Record:
        return Record(
            run_id=self.run_id, track=self.track, attack=self.attack, defense=self.defense, seed=self.seed, budget=self.budget,
            status=status, error=error, metrics=metrics, utility=self.utility, provenance=provenance(self.device, self.plugins),
            created_at=self.created_at, scenarios=scenarios, isolation=self.isolation, identity=plain(self.identity), **extra,
        )

    def ok(self, metrics: Mapping[str, Any], scenarios: dict[str, Any] | None = None, *, per_target: list[dict[str, Any]] | None = None,
           design: dict[str, Any] | None = None, epsilon: dict[str, Any] | None = None) -> Record:
        """The record of a cell that ran; ``per_target``/``design``/``epsilon`` for pool-design cells."""
        return self._record("ok", None, plain(metrics), scenarios, per_target=plain(per_target), design=plain(design), epsilon=plain(epsilon))

    def fail(self, status: str, error: str | None) -> Record:
        """A cell that ended ``failed``, ``timeout`` or ``over_budget``: no metrics."""
        return self._record(status, error, {}, None)


def orphan_record(cell: Any, error: str) -> Record:
    """The record of a cell that never reached its track (a track that fails to load, a dead worker).

    Its run id hashes the cell itself, since the track's version and split are unknown.
    """
    spec = json.dumps(asdict(cell), sort_keys=True, default=str)
    return Record(
        run_id=hashlib.sha256(spec.encode()).hexdigest(), track=TrackRef(cell.track),
        attack=AttackRef(cell.attack, dict(cell.attack_params)), defense=DefenseRef(cell.defense, dict(cell.defense_params)),
        seed=cell.seed, budget=BudgetUse(cell.budget), status="failed", error=error,
        provenance=provenance("unknown"), created_at=now(),
    )


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """Records of a results.jsonl (or a run folder), the latest line per run_id winning.

    A torn line from an interrupted write is reported and skipped; a record of an unknown schema
    version raises :class:`RecordError` naming the file, the line and the version.
    """
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS
    if not p.exists():
        return []

    def torn(line: int, why: str) -> None:
        warnings.warn(f"{p}:{line}: unreadable result line skipped (interrupted write?): {why}", RuntimeWarning)

    by_id: dict[str, Record] = {}
    for i, data in read_jsonl(p, torn):
        if "run_id" not in data:
            warnings.warn(f"{p}:{i}: not a privbench result record, skipped", RuntimeWarning)
            continue
        rec = Record.from_dict(data, f"{p}:{i}")
        by_id[rec.run_id] = rec
    return list(by_id.values())


def iter_jsonl(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Record]:
    for p in paths:
        yield from read_records(p)


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

    def done(self) -> dict[str, Record]:
        return {r.run_id: r for r in read_records(self.path)}

    def save_scores(self, run_id: str, arrays: dict[str, Any]) -> str:
        import numpy as np

        final = self.out_dir / "scores" / f"{run_id}.npz"
        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a path
                np.savez_compressed(f, **arrays)

        atomic_write(final, write)
        return str(final.relative_to(self.out_dir))

    def append(self, record: Record) -> None:
        if not isinstance(record, Record):
            raise TypeError(f"ResultsWriter.append takes a bench.Record, got {type(record).__name__}")
        line = (dumps(record) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
