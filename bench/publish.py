"""Publishing results to ``leaderboards/``: validate submitted records, write entries, verify an entry.

An *entry* is one JSON file per cell, ``leaderboards/<track>/<budget>/<defense>__<attack>__seed<k>__<id>.json``::

    {"entry_version": 1, "entry_id": ..., "record": {<the result record, minus error/scores_file>},
     "submission": {"title", "paper", "code", "submitted_at"},
     "roc": {"fpr": [...], "tpr": [...]},            # log-spaced FPR grid, enough for the plots
     "tolerance": {"auc": ..., ...},                 # what ``verify`` accepts as "agrees"
     "verification": null | {"verified_at", "hardware", "metrics", ...}}

Validation rules (each failing rule is one message):

- ``schema_version`` is the harness's; ``status`` is ``ok``;
- the track is installed, on the leaderboard, at the same version, and its split sha256 equals the
  record's (the split is recomputed by loading the track);
- the budget tier is one the track defines, the record's limits are that tier's limits, and the usage
  (shadow models, queries, device-seconds) is within them;
- provenance is complete: ``privbench_version``, ``python``, ``torch`` and ``device`` are set.
  ``git_commit`` may be null (a wheel install has no git checkout; the version then names the code);
- attack and defense each name their plugin and version;
- metrics hold ``auc``, ``tpr@0.1%fpr``, ``tpr@1%fpr`` and utility holds ``test_accuracy``;
- the per-candidate scores file exists and reproduces the record's AUC (the ROC curve comes from it).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

__all__ = [
    "ENTRY_VERSION",
    "DEFAULT_TOLERANCE",
    "REQUIRED_PROVENANCE",
    "Problem",
    "Submission",
    "validate_record",
    "make_entry",
    "submit",
    "load_entries",
    "entry_path",
    "roc_points",
    "within_tier",
    "verify_entry",
    "hardware",
]

ENTRY_VERSION = 1
REQUIRED_PROVENANCE = ("privbench_version", "python", "torch", "device")
REQUIRED_METRICS = ("auc", "tpr@0.1%fpr", "tpr@1%fpr")
# Absolute differences that ``verify`` accepts. Training on one CPU is deterministic, so a re-run on the
# same software usually agrees exactly; the slack covers other CPUs' float reductions.
DEFAULT_TOLERANCE = {"auc": 0.02, "tpr@0.1%fpr": 0.02, "tpr@1%fpr": 0.03, "test_accuracy": 0.02}
# Tiers whose device-seconds are measured on a CPU: entries produced on another device are listed apart.
CPU_TIERS = ("smoke", "cpu")
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


def _label(rec: dict[str, Any]) -> str:
    g = lambda k: (rec.get(k) or {}).get("name", "?") if isinstance(rec.get(k), dict) else "?"  # noqa: E731
    return f"{g('track')}/{g('defense')}/{g('attack')}/seed{rec.get('seed', '?')}"


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


def _scores_path(rec: dict[str, Any], base: Path) -> Path:
    rel = rec.get("scores_file") or f"scores/{rec.get('run_id')}.npz"
    return base / rel


def validate_record(rec: dict[str, Any], tracks: _Tracks, base: Path) -> list[str]:
    """The problems of one record (empty if it can be published). ``base`` is its run folder."""
    from ._api import PluginError
    from ._records import SCHEMA_VERSION

    problems: list[str] = []
    if rec.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {rec.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    if rec.get("status") != "ok":
        first = (rec.get("error") or "").splitlines()[0] if rec.get("error") else ""
        problems.append(f"status is {rec.get('status')!r}, only 'ok' cells are published" + (f" ({first})" if first else ""))

    track_rec = rec.get("track") or {}
    track = None
    try:
        track, sha = tracks.get(track_rec.get("name"))
    except PluginError as exc:
        problems.append(f"unknown track: {exc}")
    except Exception as exc:  # a loader without its data: cannot check the split
        problems.append(f"track {track_rec.get('name')!r} could not be loaded to check its split: {type(exc).__name__}: {exc}")
    if track is not None:
        if not getattr(track, "leaderboard", True):
            problems.append(f"track {track.name!r} is not a leaderboard track (synthetic tracks are for tests)")
        if str(track_rec.get("version")) != str(track.version):
            problems.append(f"track version is {track_rec.get('version')!r}, the installed {track.name!r} is version {track.version!r}")
        if track_rec.get("split_sha256") != sha:
            problems.append(f"split sha256 {str(track_rec.get('split_sha256'))[:12]}… does not match track {track.name!r}'s split {sha[:12]}…")
        problems += _budget_problems(rec, track)

    prov = rec.get("provenance") or {}
    missing = [k for k in REQUIRED_PROVENANCE if prov.get(k) in (None, "")]
    if missing:
        problems.append(f"provenance incomplete: missing {', '.join(missing)}")
    for kind in ("attack", "defense"):
        part = rec.get(kind) or {}
        for key in ("name", "plugin", "version"):
            if part.get(key) in (None, ""):
                problems.append(f"{kind} {key} is missing")

    metrics = rec.get("metrics") or {}
    absent = [k for k in REQUIRED_METRICS if not isinstance(metrics.get(k), (int, float))]
    if absent and rec.get("status") == "ok":
        problems.append(f"metrics missing: {', '.join(absent)}")
    if rec.get("status") == "ok" and not isinstance((rec.get("utility") or {}).get("test_accuracy"), (int, float)):
        problems.append("utility.test_accuracy is missing")
    if rec.get("status") == "ok" and not absent:
        path = _scores_path(rec, base)
        if not path.exists():
            problems.append(f"scores file {path} not found (the ROC curve is drawn from it)")
        else:
            from .metrics import auc

            with np.load(path) as z:
                got = auc(z["scores"], z["is_member"])
            if abs(got - metrics["auc"]) > 1e-9:
                problems.append(f"scores file {path.name} gives AUC {got:.6f}, the record says {metrics['auc']:.6f}")
    return problems


def _budget_problems(rec: dict[str, Any], track: Any) -> list[str]:
    budget = rec.get("budget") or {}
    tier = budget.get("tier")
    if tier not in track.budgets:
        return [f"budget tier {tier!r} is unknown to track {track.name!r}; tiers: {', '.join(track.budgets)}"]
    limits = track.budgets[tier].limits()
    out = []
    if budget.get("limits") != limits:
        out.append(f"budget limits {budget.get('limits')} are not the {tier!r} tier's {limits}")
    used = budget.get("used") or {}
    n = sum(int((rec.get("metrics") or {}).get(k) or 0) for k in ("n_members", "n_nonmembers"))
    caps = {"shadow_models": limits["max_shadows"], "device_seconds": limits["device_seconds"]}
    if n:
        caps["queries"] = limits["queries_per_candidate"] * n
    for key, cap in caps.items():
        if used.get(key) is not None and used[key] > cap:
            out.append(f"budget not respected: used {used[key]:g} {key.replace('_', ' ')}, the {tier!r} tier allows {cap:g}")
    return out


def within_tier(record: dict[str, Any]) -> bool:
    """Ranked entries: within their tier's limits, and CPU tiers measured on a CPU."""
    budget = record.get("budget") or {}
    limits, used = budget.get("limits") or {}, budget.get("used") or {}
    if used.get("shadow_models", 0) > limits.get("max_shadows", float("inf")):
        return False
    if used.get("device_seconds", 0) > limits.get("device_seconds", float("inf")):
        return False
    device = str((record.get("provenance") or {}).get("device") or "")
    return not (budget.get("tier") in CPU_TIERS and not device.startswith("cpu"))


def roc_points(scores: np.ndarray, is_member: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve on a log-spaced FPR grid (largest TPR with FPR ≤ each grid point), rounded."""
    from .metrics import roc

    fpr, tpr, _ = roc(scores, is_member)
    # the exact lowest non-zero FPR keeps the low-FPR end of the log-log plot honest
    n0 = int(np.count_nonzero(~np.asarray(is_member, bool)))
    grid = np.unique(np.concatenate([[1.0 / max(n0, 1)], ROC_GRID[ROC_GRID >= 1.0 / max(n0, 1)]]))
    ys = [float(tpr[fpr <= g].max()) if np.any(fpr <= g) else 0.0 for g in grid]
    return {"fpr": [round(float(g), 6) for g in grid], "tpr": [round(y, 6) for y in ys]}


def entry_path(root: Path, record: dict[str, Any]) -> Path:
    name = f"{record['defense']['name']}__{record['attack']['name']}__seed{record['seed']}__{record['run_id'][:12]}.json"
    return Path(root) / record["track"]["name"] / record["budget"]["tier"] / name


def make_entry(record: dict[str, Any], base: Path, sub: Submission) -> dict[str, Any]:
    from ._records import now

    with np.load(_scores_path(record, base)) as z:
        roc = roc_points(z["scores"], z["is_member"])
    rec = {k: v for k, v in record.items() if k not in ("error", "scores_file")}
    return {
        "entry_version": ENTRY_VERSION,
        "entry_id": record["run_id"],
        "record": rec,
        "submission": {"title": sub.title, "paper": sub.paper, "code": sub.code, "submitted_at": now()},
        "roc": roc,
        "tolerance": dict(DEFAULT_TOLERANCE),
        "verification": None,
    }


def write_entry(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(entry, indent=1, sort_keys=True, allow_nan=False) + "\n")
    os.replace(tmp, path)


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
    good: list[tuple[dict[str, Any], Path]] = []
    for res in results:
        p = Path(res)
        file = p / "results.jsonl" if p.is_dir() else p
        if not file.exists():
            sub.problems.append(Problem(str(file), "no such results file"))
            continue
        latest: dict[Any, tuple[int, dict[str, Any]]] = {}
        for i, line in enumerate(file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                sub.problems.append(Problem(f"{file.name}:{i}", f"not a JSON record ({exc})"))
                continue
            # A resumed run (--retry-failed) appends a cell again: its latest line is the one that counts.
            latest[rec.get("run_id", ("line", i))] = (i, rec)
        for i, rec in sorted(latest.values(), key=lambda t: t[0]):
            found = validate_record(rec, tracks, file.parent)
            where = f"{file.name}:{i} ({_label(rec)})"
            sub.problems += [Problem(where, m) for m in found]
            if not found:
                good.append((rec, file.parent))
    if sub.problems and not skip_invalid:
        return sub
    for rec, base in good:
        path = entry_path(Path(root), rec)
        write_entry(path, make_entry(rec, base, sub))
        sub.written.append(path)
    return sub


def load_entries(root: str | os.PathLike[str] = "leaderboards") -> list[tuple[Path, dict[str, Any]]]:
    """Every entry under ``root`` (``<track>/<budget>/*.json``), in a stable order."""
    out = []
    for path in sorted(Path(root).glob("*/*/*.json")):
        entry = json.loads(path.read_text())
        if isinstance(entry, dict) and "record" in entry and "entry_version" in entry:
            out.append((path, entry))
    return out


def hardware(device: str) -> str:
    """A one-line description of the machine a verification ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"
    if device.startswith("cuda"):
        import torch

        desc = f"{torch.cuda.get_device_name(0)}; " + desc
    return desc


def verify_entry(
    path: str | os.PathLike[str],
    *,
    device: str = "cpu",
    cache_dir: str | None = None,
    registry: Any = None,
    mark: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Re-run an entry's cell from its spec and compare metrics within the entry's tolerance.

    Returns ``{"agree": bool, "diffs": {metric: (published, reproduced, |diff|, tolerance)}, ...}``;
    with ``mark``, the entry is rewritten with its ``verification`` if it agrees, or without one if it does not.
    """
    from ._records import now, provenance
    from ._runner import Cell, Plan, Session

    path = Path(path)
    entry = json.loads(path.read_text())
    rec = entry["record"]
    cell = Cell(
        rec["track"]["name"], rec["defense"]["name"], rec["attack"]["name"], int(rec["seed"]), rec["budget"]["tier"],
        dict(rec["defense"].get("params") or {}), dict(rec["attack"].get("params") or {}),
    )
    plan = Plan(tracks=[cell.track], attacks=[cell.attack], defenses=[cell.defense], seeds=[cell.seed], budget=cell.budget,
                device=device, cache_dir=cache_dir, progress=progress)
    session = Session(plan, registry=registry)
    new, _ = session.run_cell(cell)
    out: dict[str, Any] = {"entry": str(path), "status": new["status"], "error": new.get("error"), "diffs": {}}
    # The entry holds resolved parameters (defaults included), so its run_id (made from the overrides given
    # at run time) is not recomputed; the spec is compared field by field instead.
    spec = lambda r: (r["track"]["version"], r["track"]["split_sha256"], r["attack"]["params"], r["defense"]["params"])  # noqa: E731
    if new["status"] == "ok" and spec(new) != spec(rec):
        out["error"] = "the re-run's cell spec (track version, split, resolved params) differs from the entry's"
        out["agree"] = False
        return out
    if new["status"] != "ok":
        out["agree"] = False
        return out
    tol = {**DEFAULT_TOLERANCE, **(entry.get("tolerance") or {})}
    agree = True
    for key, t in tol.items():
        old = rec["utility"].get(key) if key == "test_accuracy" else rec["metrics"].get(key)
        got = new["utility"].get(key) if key == "test_accuracy" else new["metrics"].get(key)
        if old is None or got is None:
            agree = False
            out["diffs"][key] = (old, got, None, t)
            continue
        d = abs(float(got) - float(old))
        out["diffs"][key] = (float(old), float(got), d, t)
        agree &= d <= t
    out["agree"] = bool(agree)
    if mark and agree:
        prov = provenance(device)
        entry["verification"] = {
            "verified_at": now(),
            "device": device,
            "hardware": hardware(device),
            "privbench_version": prov["privbench_version"],
            "git_commit": prov["git_commit"],
            "torch": prov["torch"],
            "metrics": {k: v[1] for k, v in out["diffs"].items()},
            "budget_used": new["budget"]["used"],
        }
        write_entry(path, entry)
        out["marked"] = True
    elif mark and entry.get("verification"):
        # an earlier verification no longer vouches for these numbers
        entry["verification"] = None
        write_entry(path, entry)
        out["unmarked"] = True
    return out
