"""Publishing results to ``leaderboards/``: validate submitted records, recompute their numbers, write a submission.

A submission is one file per (track, tier), named by its id (:mod:`bench._submission`). The harness owns every
number in it. For each record (each failing rule is one message; one problem and nothing is written):

- names (track, tier, defense, attack) are plain names that cannot leave ``--root``; ``status`` is ``ok``;
- the track is installed, on the leaderboard, at the same version; its split is recomputed (from the record's
  ``split_seed`` for an official run, else the track's) and its sha256 must be the record's;
- the run id is the hash of the cell's spec; the budget tier is one the track defines, with that tier's limits,
  and the usage is within them (queries: per candidate of the recomputed split);
- provenance is complete and could be true (versions, a commit of privbench's history, a device); attack and
  defense name their plugin and version, and these are the installed ones;
- no NaN or infinite number anywhere;
- the per-candidate scores file exists inside the run folder, its ``is_member`` (and ``candidate_units``) are the
  recomputed split's, and every metric the record states is what :func:`bench._scoring.metrics_from_arrays`
  computes from the scores against that split. The published record carries the harness's metrics only (metrics
  the scores cannot reproduce, such as scenario FPRs, are dropped and noted).

Re-running a cell is :mod:`bench.verify`'s job; publishing never runs one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ._entry import load_entries
from ._io import read_jsonl
from ._publish_checks import (MAX_OVERRIDE_SETS, REQUIRED_PROVENANCE, budget_problems, commit_problems, link_problems, name_problems, non_finite, plugin_problems,
                              PoolTruth, provenance_problems, run_id_problems, utility_problems, with_threat_model)
from ._record import Record, RecordError, finite_number
from ._submission import Header, SubmissionError, SubmissionFile, cell_line, read_submission, text_problems, write_submission

__all__ = [
    "REQUIRED_PROVENANCE", "METRIC_TOLERANCE", "Problem", "Submission", "validate_record", "check_record", "static_problems",
    "published_problems", "metric_problems", "submit",
    "load_entries", "roc_points", "harness_provenance",
]

METRIC_TOLERANCE = 1e-9  # recomputed from the same scores with the same code: equal up to float printing
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
    supersedes: tuple[str, ...] = ()
    written: list[Path] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Tracks:
    """Loads each track (and its split) once per submission; official records' splits from their own seed."""

    def __init__(self, registry: Any):
        self.registry = registry
        self._memo: dict[tuple[str, int | None], tuple[Any, Any]] = {}
        self._data: dict[int, Any] = {}
        self._loaded: dict[str, Any] = {}  # a track's data once, whatever split seeds its files name (each cost 215 MB)

    def get(self, name: str, split_seed: int | None = None) -> tuple[Any, Any]:
        """(track, split)."""
        import copy

        if (name, split_seed) not in self._memo:
            track = copy.copy(self.registry.track(name))
            if split_seed is not None:
                track.split_seed = int(split_seed)
            if name not in self._loaded:
                self._loaded[name] = track.load()
            data = self._data[id(track)] = self._loaded[name]
            self._memo[(name, split_seed)] = (track, track.split(data))
        return self._memo[(name, split_seed)]

    def data(self, track: Any) -> Any:
        return self._data[id(track)]


def harness_provenance() -> dict[str, Any]:
    """The validating harness: its version, commit, Python and torch."""
    from ._records import provenance

    return {k: v for k, v in provenance("-").to_dict().items() if k != "device"}


def _track_problems(rec: Record, tracks: _Tracks, published: bool = False) -> tuple[list[str], Any, Any]:
    from ._api import PluginError

    try:
        track, split = tracks.get(rec.track.name, rec.track.split_seed)
    except PluginError as exc:
        return [f"unknown track: {exc}"], None, None
    except Exception as exc:  # a loader without its data: cannot check the split
        return [f"track {rec.track.name!r} could not be loaded to check its split: {type(exc).__name__}: {exc}"], None, None
    problems = []
    if not getattr(track, "leaderboard", True):
        problems.append(f"track {track.name!r} is not a leaderboard track (synthetic tracks are for tests)")
    if str(rec.track.version) != str(track.version):
        problems.append(f"track version is {rec.track.version!r}, the installed {track.name!r} is version {track.version!r}")
    if rec.design is not None:  # LiRA's pool design: the truth is each target's half of the recomputed pool
        tier = track.budgets.get(rec.budget.tier)
        legacy = published and tier is not None and _legacy_design(rec.design, tier)  # a booked part before f5a7c13
        if not legacy and tier is not None and rec.design.get("models") != tier.models:  # fewer models: weaker attacks, a defense flattered
            problems.append(f"design has {rec.design.get('models')!r} models, the {rec.budget.tier!r} tier trains {tier.models}")
            return problems, track, None
        if not legacy and tier is not None and rec.design.get("targets") != tier.targets:  # a chosen subset of targets
            problems.append(f"design has {rec.design.get('targets')!r} targets, the {rec.budget.tier!r} tier attacks {tier.targets}")
            return problems, track, None
        split = PoolTruth.of(track, tracks, rec, legacy=legacy)
        if rec.design.get("pool") != split.per_target:  # the tables read candidates per target from it
            problems.append(f"design has a pool of {rec.design.get('pool')!r:.40}, the {rec.budget.tier!r} tier's pool is {split.per_target}")
            return problems, track, None
        truth = split.is_member()
        for key, count in (("n_members", int(truth.sum())), ("n_nonmembers", int(truth.size - truth.sum()))):
            if key in rec.metrics and rec.metrics[key] != count:
                problems.append(f"metric {key!r} is {rec.metrics[key]!r}, the design's targets hold {count}")
    if rec.track.split_sha256 != split.sha256:
        problems.append(f"split sha256 {str(rec.track.split_sha256)[:12]}… does not match track {track.name!r}'s split {split.sha256[:12]}…")
        return problems, track, None
    return problems, track, split


def _legacy_design(design: dict[str, Any], tier: Any) -> bool:
    """A booked part's record of the pool design before targets stopped being shadows (M = max_shadows + 1, the
    tier's targets): its numbers were measured as they are now (16 shadows, independent halves); only the run-time
    channel between a target's run and the next's is gone. Every other file must use the current design."""
    return design.get("models") == tier.max_shadows + 1 and design.get("targets") == min(tier.targets, tier.max_shadows)


def _scores(rec: Record, base: Path, split: Any) -> tuple[list[str], dict[str, np.ndarray] | None]:
    """The scores file's arrays, with the harness's own ``is_member``; refuses one that disagrees with the split."""
    path = (base / (rec.scores_file or f"scores/{rec.run_id}.npz")).resolve()
    if not path.is_relative_to(base.resolve()):
        return [f"scores file {rec.scores_file!r} is outside the run folder {base}"], None
    if not path.exists():
        return [f"scores file {path} not found (the metrics are recomputed from it)"], None
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    truth = split.is_member()
    scores = np.asarray(arrays.get("scores", ()))
    if scores.shape != truth.shape:
        return [f"scores file {path.name} has {scores.shape} scores, the split has {truth.size} candidates"], None
    out = []
    if "is_member" not in arrays or not np.array_equal(np.asarray(arrays["is_member"], bool), truth):
        wrong = truth.size if "is_member" not in arrays else int(np.sum(np.asarray(arrays["is_member"], bool) != truth))
        out.append(f"scores file {path.name}: is_member disagrees with track {rec.track.name!r}'s split at {wrong} of "
                   f"{truth.size} candidates (the harness computes membership from the split, never from the file)")
    if "candidate_units" in arrays and not np.array_equal(np.asarray(arrays["candidate_units"]), np.asarray(split.candidates)):
        out.append(f"scores file {path.name}: candidate_units are not the split's candidates")
    kept = {k: arrays[k] for k in ("target", "scenario_scores", "scenario_set", "scenario_target") if k in arrays}
    if isinstance(split, PoolTruth) and "target" in kept and not np.array_equal(np.asarray(kept["target"]),
                                                                                   np.repeat(np.arange(split.n_targets), split.per_target)):
        out.append(f"scores file {path.name}: target indices are not the cell's {split.n_targets} targets in order")
    return out, {"scores": scores, "is_member": truth, **kept}


def _differs(claimed: Any, computed: Any) -> bool:
    if isinstance(computed, (list, tuple)) or isinstance(claimed, (list, tuple)):
        if not (isinstance(claimed, (list, tuple)) and isinstance(computed, (list, tuple)) and len(claimed) == len(computed)):
            return True
        return any(_differs(a, b) for a, b in zip(claimed, computed))
    if computed is None or claimed is None:
        return computed is not claimed
    try:
        return abs(float(claimed) - float(computed)) > METRIC_TOLERANCE
    except (TypeError, ValueError):
        return True


def _metric_problems(rec: Record, arrays: dict[str, np.ndarray]) -> tuple[list[str], dict[str, Any], list[str]]:
    """(problems, the harness's metrics, metrics dropped as not reproducible from the scores)."""
    from ._metric_specs import HEADLINE
    from ._scoring import metrics_from_arrays

    try:
        computed = metrics_from_arrays(arrays, seed=int(rec.seed))
    except ValueError as exc:
        return [f"the scores cannot be scored: {exc}"], {}, []
    absent = [k for k in HEADLINE if rec.metric(k) is None]
    problems = [f"metrics missing: {', '.join(absent)}"] if absent else []
    for key, value in computed.items():
        if key in rec.metrics and _differs(rec.metrics[key], value):
            problems.append(f"metric {key!r} is {rec.metrics[key]!r} in the record, the harness computes {value!r} "
                            "from the scores against the track's split")
    if not isinstance(rec.utility.test_accuracy, (int, float)):  # its range: utility_problems, on every path
        problems.append("utility.test_accuracy is missing")
    return problems, computed, sorted(set(rec.metrics) - set(computed))


def static_problems(rec: Record, tracks: _Tracks, *, versions: bool = True, published: bool = False,
                    allowance: list[int] | None = None) -> tuple[list[str], Any, Any]:
    """(problems, track, recomputed split or None): every check of a record that needs no scores file. ``versions``:
    the attack's and defense's versions must be the installed ones (False for published files, which were checked at
    their own versions when submitted: a plugin's later release does not take them off the boards). ``published``:
    a file already on the boards, which may hold the pool design of its day (``_legacy_design``)."""
    problems = name_problems(rec)
    if problems:
        return problems, None, None
    if not rec.ok:
        first = rec.error.splitlines()[0] if rec.error else ""
        problems.append(f"status is {rec.status!r}, only 'ok' cells are published" + (f" ({first})" if first else ""))
    found, track, split = _track_problems(rec, tracks, published)
    problems += found
    if rec.official and track is not None:  # an official split is drawn at run time: never the track's public one
        public = getattr(tracks.registry.track(rec.track.name), "split_seed", None)
        if rec.track.split_seed is None or (public is not None and int(rec.track.split_seed) == int(public)):
            problems.append(f"the record says official, but its split seed {rec.track.split_seed!r} is the track's "
                            "public split: an official run draws its split at run time")
    plugins = plugin_problems(rec, tracks.registry, versions=versions)
    if split is not None:
        # a record without an identity has its run id searched over override sets (0.4-2 s a cell at 65,536, hours
        # for a hand-written file: adversarial review): never for a cell refused anyway, and ``allowance`` (one
        # list for a whole file) bounds a file's searches together
        problems += [] if plugins else run_id_problems(rec, str(track.version), split.sha256, allowance)
        problems += budget_problems(rec, track, split.per_target if isinstance(split, PoolTruth) else len(split.candidates))
    from ._records import _version

    problems += provenance_problems(rec, _version("privbench"))
    problems += plugins
    problems += non_finite(rec)
    return problems, track, split


def check_record(rec: Record, tracks: _Tracks, base: Path) -> tuple[list[str], dict[str, Any] | None, list[str]]:
    """(problems, the cell line to publish or None, notes) for one record; ``base`` is its run folder."""
    problems, track, split = static_problems(rec, tracks)
    if not rec.ok or split is None or problems:
        return problems, None, []
    found, arrays = _scores(rec, base, split)
    if found or arrays is None:
        return problems + found, None, []
    found, metrics, dropped = _metric_problems(rec, arrays)
    if found:
        return problems + found, None, []
    notes = [f"{rec.label()}: dropped {', '.join(dropped)} (not reproducible from the scores file)"] if dropped else []
    published = with_threat_model(rec.replace(metrics=metrics), tracks.registry)
    if "target" in arrays:  # the per-target spread and the ε audit are the harness's too
        from ._pool_cell import evaluation_metrics, runs_from_arrays

        _, per_target, eps = evaluation_metrics(runs_from_arrays(arrays), int(rec.seed))
        published = published.replace(per_target=per_target, epsilon=eps)
    return [], cell_line(published, roc_points(arrays["scores"], arrays["is_member"])), notes


def validate_record(rec: Record, tracks: _Tracks, base: Path) -> list[str]:
    """The problems of one record (empty if it can be published). ``base`` is its run folder."""
    return check_record(rec, tracks, base)[0]


def published_problems(sub: SubmissionFile, tracks: _Tracks, booked: frozenset[str] = frozenset()) -> list[str]:
    """Why a submission file under ``leaderboards/`` cannot be shown (empty: it can): every check of ``submit`` that
    needs no scores file, re-run on each cell (a hand-written file never went through ``submit``), each cell once,
    test accuracy one per set of models, and http(s) links. ``booked``: the ids of our own parts (``republish.json``):
    only they may carry the first-party title (a hand-written file under it superseded the whole digits board) or
    the pool design before targets stopped being shadows."""
    from ._submission import reads_as_first_party

    ours = sub.submission_id in booked
    out = link_problems(sub.header.paper, sub.header.code)
    if not ours and reads_as_first_party(sub.header.title):
        out.append(f"the title {sub.header.title!r} reads as privbench's own first-party title, and this file is not one of the "
                   "parts booked in republish.json: submit under a title of your own")
    harness = sub.header.harness if isinstance(sub.header.harness, dict) else {}
    out += commit_problems("header's harness", harness.get("git_commit"))
    seen: dict[Any, int] = {}
    utility: dict[tuple[Any, ...], tuple[float, str]] = {}
    allowance = [MAX_OVERRIDE_SETS]  # run-id override sets the whole file may cost
    for line, cell in enumerate(sub.cells, 2):
        rec = cell.record
        problems = static_problems(rec, tracks, versions=False, published=ours, allowance=allowance)[0]
        for key in (rec.run_id, _cell_key(rec)):
            if key in seen:
                problems.append(f"the same cell as line {seen[key]}: a submission holds each cell once")
                break
        seen.update({rec.run_id: line, _cell_key(rec): line})
        problems += utility_problems(rec, utility) + metric_problems(rec.metrics)
        out += [f"line {line} ({rec.label()}): {m}" for m in problems]
        if len(out) >= MAX_PROBLEMS and line - 1 < len(sub.cells):  # refused already: the rest need not cost a build minutes
            return out + [f"and lines {line + 1}-{len(sub.cells) + 1} were not checked"]
    return out


MAX_PROBLEMS = 20  # a file's problems listed before the rest of it goes unchecked


MAX_COUNT = 10**9  # candidates a cell may count (the tables divide by them)


def metric_problems(metrics: Any) -> list[str]:
    """Rates that are not rates: AUC, balanced accuracy, every TPR and FPR and their intervals must be numbers in
    [0, 1] (an interval: two, low ≤ high), the advantage in [-1, 1], ε's lower bound finite and ≥ 0. Only the scores
    can check the values themselves (``verify``); a hand-written AUC of -5 or 1e308 is not even a value."""
    if not isinstance(metrics, dict):
        return ["'metrics' is not an object"]
    out = []
    for k, v in sorted(metrics.items()):
        rate = k in ("auc", "balanced_accuracy") or k.startswith(("tpr", "fpr"))
        if k.endswith("_ci"):  # with its value or not: the views average every interval they find
            if v is not None and not (isinstance(v, list) and len(v) == 2 and all(finite_number(x) and 0 <= x <= 1 for x in v) and v[0] <= v[1]):
                out.append(f"metric {k!r} is {v!r:.80}: an interval is [low, high] within [0, 1]")
        elif v is None:
            continue
        elif rate and not (finite_number(v) and 0 <= v <= 1):
            out.append(f"metric {k!r} is {v!r:.80}: a rate is a number in [0, 1]")
        elif k == "advantage" and not (finite_number(v) and -1 <= v <= 1):
            out.append(f"metric {k!r} is {v!r:.80}: an advantage is a number in [-1, 1]")
        elif k == "epsilon_lb" and not (finite_number(v) and v >= 0):
            out.append(f"metric {k!r} is {v!r:.80}: a lower bound on ε is a finite number ≥ 0")
        elif k.startswith("n_") and not (finite_number(v) and v == int(v) and 0 <= v <= MAX_COUNT):
            out.append(f"metric {k!r} is {v!r:.80}: a count is a whole number from 0 to {MAX_COUNT:,}")
    return out


def _cell_key(rec: Record) -> tuple[Any, ...]:
    """One cell of a board: its defense and attack with their parameters, and its seed (the row it adds a seed to)."""
    import json

    return (rec.defense.name, json.dumps(rec.defense.params, sort_keys=True, default=str), rec.attack.name,
            json.dumps(rec.attack.params, sort_keys=True, default=str), rec.seed)


def roc_points(scores: np.ndarray, is_member: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve on a log-spaced FPR grid (largest TPR with FPR ≤ each grid point), rounded."""
    from .metrics import roc

    fpr, tpr, _ = roc(scores, is_member)
    # the exact lowest non-zero FPR keeps the low-FPR end of the log-log plot honest
    n0 = int(np.count_nonzero(~np.asarray(is_member, bool)))
    grid = np.unique(np.concatenate([[1.0 / max(n0, 1)], ROC_GRID[ROC_GRID >= 1.0 / max(n0, 1)]]))
    ys = [float(tpr[fpr <= g].max()) if np.any(fpr <= g) else 0.0 for g in grid]
    return {"fpr": [round(float(g), 6) for g in grid], "tpr": [round(y, 6) for y in ys]}


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


def _plugins(lines: list[dict[str, Any]], registry: Any) -> dict[str, str | None]:
    """{distribution: version} of the plugins that registered the cells' track, attacks and defenses."""
    out: dict[str, str | None] = {}
    for line in lines:
        rec = line["record"]
        for kind, name in (("tracks", rec["track"]["name"]), ("attacks", rec["attack"]["name"]), ("defenses", rec["defense"]["name"])):
            info = registry.get(kind, name).plugin
            out[info.distribution or f"{info.source}:{info.name}"] = info.version
    return out


def _collect(results: Iterable[str | os.PathLike[str]], tracks: _Tracks, sub: Submission) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The publishable cell lines of every results file, by (track, tier); problems and notes go to ``sub``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seen: set[str] = set()
    # Test accuracy is the models', not the attack's: every cell on the same models must report the same one. The scores
    # cannot recompute it (verify retrains and does); this catches one cell's edited utility against its neighbours'.
    utility: dict[tuple[Any, ...], tuple[float, str]] = {}
    for res in results:
        p = Path(res)
        file = p / "results.jsonl" if p.is_dir() else p
        if not file.exists():
            sub.problems.append(Problem(str(file), "no such results file"))
            continue
        for i, rec in _latest_records(file, sub):
            problems, line, notes = check_record(rec, tracks, file.parent)
            if rec.run_id in seen:
                problems.append("this cell is already in the submission (from another results file)")
            seen.add(rec.run_id)
            problems += utility_problems(rec, utility)
            sub.problems += [Problem(f"{file.name}:{i} ({rec.label()})", m) for m in problems]
            sub.notes += notes
            if line is not None and not problems:
                groups.setdefault((rec.track.name, rec.budget.tier), []).append(line)
    return groups


def _superseded(root: Path, ids: tuple[str, ...], groups: dict[tuple[str, str], Any], sub: Submission, registry: Any) -> dict[tuple[str, str], list[str]]:
    """Which new submission supersedes each ``--supersedes`` id: the one for its (track, tier), if it ``may_supersede``."""
    out: dict[tuple[str, str], list[str]] = {}
    for sid in ids:
        found = [p for p in root.glob(f"*/*/{sid}.jsonl")] if sid.isalnum() else []
        key = (found[0].parent.parent.name, found[0].parent.name) if found else None
        problem = f"no submission {sid!r} under {root}" if not found else \
            f"{sid} is a {key[0]}/{key[1]} submission; this one has no cell there" if key not in groups else None
        if problem is None:
            try:
                old = read_submission(found[0]).header
                mine = Header(*key, sub.title, plugins=_plugins(groups[key], registry))  # type: ignore[misc]
                problem = None if mine.may_supersede(old) else (
                    f"{sid} was submitted as {old.title!r} with plugins {sorted(old.plugins)}: a submission only replaces "
                    "one under its own title with the same plugins")
            except SubmissionError as exc:
                problem = str(exc)
        if not problem:
            out.setdefault(key, []).append(sid)  # type: ignore[arg-type]
        sub.problems += [Problem("--supersedes", problem)] if problem else []
    return out


def submit(results: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str] = "leaderboards", *, title: str | None = None,
           paper: str | None = None, code: str | None = None, supersedes: Iterable[str] = (), registry: Any = None,
           skip_invalid: bool = False) -> Submission:
    """Validate every record of ``results`` and write one submission file per (track, tier) under ``root``.

    All or nothing unless ``skip_invalid``: if any record has a problem, nothing is written."""
    from ._plugins import load_plugins
    from ._records import now

    if registry is None:
        _, registry = load_plugins(())
    sub = Submission(title=title, paper=paper, code=code, supersedes=tuple(supersedes))
    sub.problems += [Problem("submission", m) for m in link_problems(paper, code) + text_problems(title=title, paper=paper, code=code)]
    groups = _collect(results, _Tracks(registry), sub)
    replaces = _superseded(Path(root), sub.supersedes, groups, sub, registry)
    if sub.problems and not skip_invalid or not groups:
        return sub
    for (track, tier), lines in sorted(groups.items()):
        header = Header(track, tier, title, paper, code, now(), tuple(replaces.get((track, tier), ())),
                        _plugins(lines, registry), harness_provenance())
        try:
            sid, path = write_submission(root, header, lines)
        except (SubmissionError, ValueError) as exc:
            sub.problems.append(Problem(f"{track}/{tier}", str(exc)))
            continue
        sub.ids.append(sid)
        sub.written.append(path)
    return sub
