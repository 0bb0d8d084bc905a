"""The Python API: run a grid from a script or notebook, audit your own model, read the results as a table.

>>> import bench                                                                # doctest: +SKIP
>>> res = bench.run("digits", ["loss", "lira"], defenses=["none", "l2"])        # doctest: +SKIP
>>> res.to_pandas()[["defense", "attack", "auc", "auc_low", "auc_high"]]        # doctest: +SKIP

Everything here goes through the same runner, records and run folder as ``privbench run``; a run folder
written by either is read back with :meth:`Results.load`. Heavy modules are imported on use.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ._record import Record
from ._track import Track

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from ._recipe import Recipe

__all__ = ["run", "audit_model", "Results", "CellScores", "RocCurve"]

IDENTITY = ("track", "defense", "defense_params", "attack", "attack_params", "seed", "budget", "status")  # params: "k=v, ..." ("" for none)


@dataclass(frozen=True)
class CellScores:
    """One cell's per-candidate arrays from its run folder; ``extras`` holds what the attack exported (e.g. ``memorization``)."""

    run_id: str
    scores: np.ndarray
    is_member: np.ndarray
    candidate_units: np.ndarray
    extras: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class RocCurve:
    """ROC points of one cell (a candidate is called a member iff its score >= threshold)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray

    def tpr_at(self, max_fpr: float) -> float:
        """The largest TPR among points with FPR <= ``max_fpr`` (the records' ``tpr@x%fpr``)."""
        from .metrics import tpr_at_fpr

        return tpr_at_fpr(self.fpr, self.tpr, max_fpr)


class Results:
    """The records of a run and its folder: a table (:meth:`to_pandas`), per-candidate scores, ROC points."""

    def __init__(self, records: Iterable[Record], run_dir: str | Path, *, temporary: bool = False):
        self.records: list[Record] = list(records)
        self.run_dir = Path(run_dir)
        # A run folder that run() made itself goes with this object (pass out_dir to keep it).
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.run_dir), ignore_errors=True) if temporary else None

    @classmethod
    def load(cls, run_dir: str | Path) -> "Results":
        """The results of an existing run folder (``privbench run --out DIR`` or ``bench.run(out_dir=DIR)``)."""
        from ._records import RESULTS, read_records

        path = Path(run_dir)
        if not (path / RESULTS).is_file():
            raise FileNotFoundError(f"{path} is not a run folder: it has no {RESULTS} (run the grid there first)")
        return cls(read_records(path), path)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __repr__(self) -> str:
        ok = sum(r.ok for r in self.records)
        return f"Results({len(self.records)} cells, {ok} ok, run_dir={str(self.run_dir)!r})"

    def to_pandas(self) -> "pandas.DataFrame":
        """One row per cell: identity and status, every numeric metric with ``<metric>_low``/``_high`` where the
        record has an interval, train/test accuracy of the target, the error (if any) and the run id."""
        import pandas as pd

        rows = [_row(r) for r in self.records]
        metric_cols: dict[str, None] = {}
        for row in rows:
            metric_cols.update(dict.fromkeys(k for k in row if k not in IDENTITY and k not in _TAIL))
        columns = [*IDENTITY, *metric_cols, *_TAIL]
        return pd.DataFrame(rows, columns=columns)

    def record(self, cell: Any = None, **where: Any) -> Record:
        """The one record picked by ``cell`` (a run id, a Record, a ``to_pandas()`` row) or by fields, e.g.
        ``record(attack="lira", defense="none")``; an error when none or several match."""
        run_id = cell if isinstance(cell, str) else getattr(cell, "run_id", None)
        if cell is not None and run_id is None:
            raise TypeError(f"pick a cell by run id, Record or to_pandas() row, not {type(cell).__name__}")
        unknown = sorted(set(where) - (set(IDENTITY) - {"status"}))
        if unknown:
            raise TypeError(f"unknown field(s) {', '.join(unknown)}; pick by {', '.join(k for k in IDENTITY if k != 'status')}")
        found = [r for r in self.records if (run_id is None or r.run_id == run_id) and all(_field(r, k) == v for k, v in where.items())]
        if len(found) != 1:
            what = ", ".join([f"run_id={run_id!r}"] * (run_id is not None) + [f"{k}={v!r}" for k, v in where.items()]) or "no filter"
            labels = ", ".join(r.label() for r in (found or self.records)[:8])
            raise LookupError(f"{len(found)} cells match {what} (need exactly one); {'matching' if found else 'cells'}: {labels}")
        return found[0]

    def scores(self, cell: Any = None, **where: Any) -> CellScores:
        """The per-candidate arrays of one cell (see :meth:`record` for how to pick it)."""
        rec = self.record(cell, **where)
        if not rec.scores_file:
            raise LookupError(f"cell {rec.label()} has no per-candidate scores (status {rec.status}{': ' + rec.error if rec.error else ''})")
        path = (self.run_dir / rec.scores_file).resolve()
        if not path.is_relative_to(self.run_dir.resolve()):
            raise LookupError(f"cell {rec.label()}: scores file {rec.scores_file!r} is outside the run folder {self.run_dir}")
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        return CellScores(rec.run_id, arrays.pop("scores"), arrays.pop("is_member").astype(bool), arrays.pop("candidate_units"), arrays)

    def roc(self, cell: Any = None, **where: Any) -> RocCurve:
        """The ROC points of one cell, every operating point kept (``bench.metrics.roc``)."""
        from .metrics import roc

        s = self.scores(cell, **where)
        return RocCurve(*roc(s.scores, s.is_member))


def _weights_sha256(module: Any) -> str:
    """The target's weights in the track's version: a retrained model is a new run, never a resumed one."""
    import hashlib

    h = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


_TAIL = ("train_accuracy", "test_accuracy", "error", "run_id")


def _field(record: Record, key: str) -> Any:
    from .aggregate import params_text

    return {"track": record.track.name, "defense": record.defense.name, "attack": record.attack.name, "seed": record.seed,
            "budget": record.budget.tier, "defense_params": params_text(record.defense.params),
            "attack_params": params_text(record.attack.params)}[key]


def _row(r: Record) -> dict[str, Any]:
    row: dict[str, Any] = {k: _field(r, k) for k in IDENTITY if k != "status"}
    row["status"] = r.status
    for key, value in r.metrics.items():
        if key.endswith("_ci"):
            if isinstance(value, (list, tuple)) and len(value) == 2:
                row[f"{key[:-3]}_low"], row[f"{key[:-3]}_high"] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            row[key] = value
    row.update(train_accuracy=r.utility.train_accuracy, test_accuracy=r.utility.test_accuracy, error=r.error, run_id=r.run_id)
    return row


def _names(value: Any, what: str) -> list[Any]:
    items = [value] if isinstance(value, (str, Track)) or isinstance(value, type) else list(value)
    if not items:
        raise ValueError(f"no {what} given")
    return items


def _split(value: Any, kind: str) -> tuple[list[str], list[Any]]:
    """Names, and the objects to register for this run only (Track objects or classes, Attack/Defense classes)."""
    items = _names(value, kind)
    objects = [(item() if kind == "tracks" and isinstance(item, type) else item) for item in items if not isinstance(item, str)]
    return [item if isinstance(item, str) else item.name for item in items], objects


def run(tracks: Any, attacks: Any, defenses: Any = ("none",), seeds: int | Sequence[int] = (0,),
        budget: str = "smoke", out_dir: str | Path | None = None, params: Mapping[str, Mapping[str, Any]] | None = None,
        progress: bool = True, **plan_options: Any) -> Results:
    """Run (or resume) a grid of (track, defense, attack, seed) cells and return its :class:`Results`.

    ``tracks``, ``attacks``, ``defenses``: names of installed plugins, and/or objects registered for this run only
    (a :class:`bench.Track` object or class such as :func:`bench.track_from_arrays`; an Attack or Defense class).
    ``seeds``: a list, or N for seeds 0..N-1. ``params``: per plugin name, parameter overrides
    (``{"lira": {"n_shadows": 8}}``). ``out_dir``: the run folder (a rerun resumes it); without one, a temporary
    folder that lives as long as the returned object. ``plan_options``: more ``Plan`` fields (``cache_dir``,
    ``device``, ``scenarios``, ``plugin_files``, ...). Progress bars use ``tqdm.auto`` (widgets in a notebook)."""
    (track_names, custom_tracks), (attack_names, custom_attacks), (defense_names, custom_defenses) = (
        _split(tracks, "tracks"), _split(attacks, "attacks"), _split(defenses, "defenses"))
    custom = {"tracks": custom_tracks, "attacks": custom_attacks, "defenses": custom_defenses}
    return _run(track_names, custom, {}, attacks=attack_names, defenses=defense_names,
                seeds=list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds], budget=budget,
                out_dir=out_dir, params=params, progress=progress, **plan_options)


def _run(track_names: list[str], custom: dict[str, list[Any]], external: dict[str, Any], *, out_dir: Any, params: Any, **fields: Any) -> Results:
    from ._plan import Plan
    from ._plugins import PluginInfo, _registration, load_plugins
    from ._runner import Session, run_plan

    known = {f.name for f in dataclasses.fields(Plan)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"unknown run option(s) {', '.join(unknown)}; known: {', '.join(sorted(known - {'tracks', 'split_seed'}))}")
    temporary = out_dir is None
    out = Path(tempfile.mkdtemp(prefix="privbench-run-")) if temporary else Path(out_dir)
    plan = Plan(tracks=track_names, out_dir=str(out), params={k: dict(v) for k, v in (params or {}).items()}, **fields)
    try:
        if plan.official:  # attack plugins are described in the sandbox, never imported here (bench._official_plugins)
            from ._official_plugins import official_registry

            manager, registry = official_registry(plan.plugin_files, sandbox=plan.sandbox, hide=[str(out)],
                                                  wanted={"tracks": track_names, "defenses": None if "all" in plan.defenses else plan.defenses})
        else:
            manager, registry = load_plugins(plan.plugin_files)
        info = PluginInfo("bench.run", source="object")  # what this call registers, for this run only
        for kind, objects in custom.items():
            for obj in objects:
                registry.add(kind, *_registration(kind, (obj,), info), info)
        _check(plan, registry.check())
        session = Session(plan, registry=registry, manager=manager, external_targets=external)
        executor = None
        if any(custom.values()) or external:  # objects of this process: the cells run here, not in worker processes
            from .executors import LocalExecutor

            executor = LocalExecutor(slots=1)
            if plan.isolation is None and not plan.official:  # a worker could not rebuild this process's objects
                plan.isolation = "thread"
        records = run_plan(plan, session=session, executor=executor)
    except BaseException:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return Results(records, out, temporary=temporary)


def _check(plan: Any, registry: Any) -> None:
    """Unknown names, parameters and budget tiers are errors before anything trains."""
    for kind, names in (("tracks", plan.tracks), ("attacks", plan.attacks), ("defenses", plan.defenses)):
        for name in names:
            registry.get(kind, name)  # PluginError: unknown ..., with the known names
    grid = set(plan.tracks) | set(plan.attacks) | set(plan.defenses)
    for name, overrides in plan.params.items():
        if name not in grid:
            raise ValueError(f"params for {name!r}, which is not in this run (tracks, attacks, defenses: {', '.join(sorted(grid))})")
        if name in plan.attacks:
            registry.attack(name, **overrides)
        elif name in plan.defenses:
            registry.defense(name, **overrides)
    for name in plan.tracks:
        tiers = registry.track(name).budgets
        if plan.budget not in tiers:
            raise ValueError(f"track {name!r} has no budget tier {plan.budget!r}; tiers: {', '.join(tiers)}")


def audit_model(module: Any, x: Any, y: Any, train_indices: Sequence[int], *, recipe: "Recipe", module_factory: Any = None,
                attacks: str | Sequence[str] = ("lira", "loss"), population: float | tuple[Any, Any] = 0.5, name: str = "my-model",
                budget: str = "smoke", seeds: int | Sequence[int] = (0,), out_dir: str | Path | None = None,
                params: Mapping[str, Mapping[str, Any]] | None = None, progress: bool = True, split_seed: int = 0,
                augmentations: Sequence[str] = (), **plan_options: Any) -> Results:
    """Audit a model you trained yourself on rows ``train_indices`` of ``(x, y)``.

    The harness keeps ``train_indices`` (the members) to itself; the other rows are non-members, except a share
    ``population`` of them (or, given ``(x_pop, y_pop)``, those arrays instead) held out as the attacker's own data.
    Attacks query ``module`` as the target; shadow models are trained by the harness with ``recipe`` (optimizer,
    epochs, batch size, lr) on modules from ``module_factory()`` (default: ``recipe.arch``), on random halves of the
    pool, so they should match how you trained ``module``. ``augmentations`` (``"shift"``, ``"mirror"``): the query
    augmentations that make sense for your inputs (LiRA averages over 2 queries by default; with none, pass
    ``params={"lira": {"n_queries": 1}}``). Returns one row per (attack, seed)."""
    x, y = np.asarray(x), np.asarray(y)
    members = np.unique(np.asarray(train_indices, dtype=np.int64))
    if len(members) == 0 or members.min() < 0 or members.max() >= len(x):
        raise ValueError(f"train_indices must be row indices of x in [0, {len(x)}) (got {len(members)} indices)")
    rest = np.setdiff1d(np.arange(len(x)), members)
    if isinstance(population, tuple):
        x_pop, y_pop = np.asarray(population[0]), np.asarray(population[1])
        pop, x, y = np.arange(len(x), len(x) + len(x_pop)), np.concatenate([x, x_pop]), np.concatenate([y, y_pop])
    elif 0.0 < float(population) < 1.0:
        pop = np.sort(np.random.default_rng([split_seed, 0xA0D]).choice(rest, int(round(len(rest) * float(population))), replace=False))
        rest = np.setdiff1d(rest, pop)
    else:
        raise ValueError(f"population must be a share in (0, 1) of the rows you did not train on, or (x_pop, y_pop); got {population!r}")
    if len(rest) == 0 or len(pop) == 0:
        raise ValueError(f"need non-member rows and population rows besides train_indices: {len(rest)} non-members, {len(pop)} population")
    from ._array_track import ArrayTrack

    track = ArrayTrack(name, x, y, module_factory, recipe, members=members, nonmembers=rest, population=pop, split_seed=split_seed,
                       augmentations=augmentations, description="a model trained outside the harness (bench.audit_model)", identity=_weights_sha256(module))
    attack_names, custom_attacks = _split(attacks, "attacks")
    return _run([name], {"tracks": [track], "attacks": custom_attacks}, {name: module}, attacks=attack_names, defenses=["none"],
                seeds=list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds], budget=budget,
                out_dir=out_dir, params=params, progress=progress, **plan_options)
