"""The benchmark runner: a grid of (track, defense, attack, seed) cells, each scored by the harness.

Targets are trained once per (track, defense, seed) and shared by the attacks of that group. Every
cell ends as a record — ``ok``, ``failed``, ``timeout`` or ``over_budget`` — and the grid goes on.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ._api import Attack, BudgetExceeded, Defense, PluginError, Task, ThreatModel, ThreatModelViolation
from ._records import SCHEMA_VERSION, ResultsWriter, now, provenance

__all__ = ["Cell", "Plan", "Session", "CellRunner", "run_plan", "expand_grid"]


@dataclass(frozen=True)
class Cell:
    """One grid cell, plain data (picklable: executors may ship it to other processes)."""

    track: str
    defense: str
    attack: str
    seed: int
    budget: str
    defense_params: Mapping[str, Any] = field(default_factory=dict)
    attack_params: Mapping[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        return f"{self.track}/{self.defense}/{self.attack}/seed{self.seed}"


@dataclass
class Plan:
    """A resolved run: what the CLI (or a script) asks for."""

    tracks: list[str]
    attacks: list[str]
    defenses: list[str]
    seeds: list[int]
    budget: str = "smoke"
    out_dir: str = "runs/default"
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> param overrides
    data_dir: str | None = None
    device: str | None = None
    cache_dir: str | None = None
    plugin_files: list[str] = field(default_factory=list)
    retry_failed: bool = False
    timeout_grace: float = 30.0
    progress: bool = True
    scenarios: bool = True  # score OOD / neighbour non-members for attacks that set a threshold


    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_id(cell: Cell, track_version: str, split_sha256: str) -> str:
    spec = {
        "track": {"name": cell.track, "version": track_version, "split_sha256": split_sha256},
        "defense": {"name": cell.defense, "params": dict(cell.defense_params)},
        "attack": {"name": cell.attack, "params": dict(cell.attack_params)},
        "seed": cell.seed,
        "budget": cell.budget,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


class _Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def bar(self, desc: str, total: int | None = None) -> Any:
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        return _EpochBar(tqdm(total=total, desc=desc, leave=False, unit="epoch", dynamic_ncols=True))


class _EpochBar:
    """Adapts a tqdm bar to the trainer's ``progress(done, total)`` callback."""

    def __init__(self, bar: Any):
        self._bar = bar

    def __call__(self, done: int, total: int) -> None:
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


class Session:
    """Per-process state: plugins, data, splits and trained targets, memoized across cells."""

    def __init__(self, plan: Plan, registry: Any = None, cache: Any = None, manager: Any = None):
        from ._cache import ModelCache
        from ._plugins import PluginManager, load_plugins

        self.plan = plan
        if registry is None:
            manager, registry = load_plugins(plan.plugin_files)
        # Event hooks fire whoever made the session: the manager that built the registry, else an empty one.
        self.manager = manager or getattr(registry, "manager", None) or PluginManager()
        self.registry = registry
        self.cache = cache if cache is not None else ModelCache(plan.cache_dir)
        self.progress = _Progress(plan.progress)
        self._tracks: dict[str, tuple[Any, Any, Any]] = {}
        self._targets: dict[tuple, Any] = {}
        self._device: str | None = plan.device

    @property
    def device(self) -> str:
        if self._device is None:
            from .training import default_device

            self._device = default_device()
        return self._device

    def track(self, name: str) -> tuple[Any, Any, Any]:
        """(track, data, split) for a track name, loaded once."""
        if name not in self._tracks:
            track = self.registry.track(name)
            track.data_dir = self.plan.data_dir
            track.configure(**self.plan.params.get(name, {}))
            data = track.load()
            split = track.split(data)
            self._tracks[name] = (track, data, split)
        return self._tracks[name]

    def defense(self, cell: Cell) -> Defense:
        return self.registry.defense(cell.defense, **cell.defense_params)

    def factory(self, cell: Cell, defense: Defense) -> Any:
        from ._context import ModelFactory

        track, data, split = self.track(cell.track)
        progress = (lambda desc: self.progress.bar(desc)) if self.plan.progress else None
        return ModelFactory(track, data, split.sha256, defense, self.cache, self.device, progress)

    def target(self, cell: Cell) -> dict[str, Any]:
        """The target of (track, defense, seed): trained (or loaded) once, with its utility."""
        key = (cell.track, cell.defense, json.dumps(dict(cell.defense_params), sort_keys=True, default=str), cell.seed)
        if key not in self._targets:
            track, data, split = self.track(cell.track)
            defense = self.defense(cell)
            factory = self.factory(cell, defense)
            try:
                module, meta, cached = factory.get("target", split.members, cell.seed)
                utility = track.utility(module, data, split)
                self._targets[key] = {"module": module, "meta": meta, "cached": cached, "utility": utility, "error": None}
            except Exception as exc:
                self._targets[key] = {"error": f"training the target with defense {cell.defense!r} failed: {type(exc).__name__}: {exc}"}
        return self._targets[key]

    def run_id(self, cell: Cell) -> str:
        track, _, split = self.track(cell.track)
        return run_id(cell, track.version, split.sha256)

    def run_cell(self, cell: Cell) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
        """Run one cell; returns the record (without ``scores_file``) and the per-candidate arrays."""
        from .metrics import membership_metrics

        track, data, split = self.track(cell.track)
        budget = track.budgets.get(cell.budget)
        record = self._skeleton(cell, track, split)
        if budget is None:
            return self._fail(record, "failed", f"track {cell.track!r} has no budget tier {cell.budget!r}; tiers: {', '.join(track.budgets)}"), None
        record["budget"] = {"tier": budget.tier, "limits": budget.limits(), "used": {}}
        try:
            attack: Attack = self.registry.attack(cell.attack, **cell.attack_params)
            defense = self.defense(cell)
        except (PluginError, ValueError, TypeError) as exc:
            return self._fail(record, "failed", str(exc)), None
        record["attack"]["version"] = attack.version
        record["attack"]["params"] = attack.params
        record["defense"]["version"] = defense.version
        record["defense"]["params"] = defense.params
        if not attack.supports(track.task):
            return self._fail(record, "failed", f"attack {attack.name!r} does not support task {Task(track.task).value!r} of track {track.name!r}"), None

        target = self.target(cell)
        if target["error"]:
            return self._fail(record, "failed", target["error"]), None
        record["utility"] = target["utility"]
        record["defense"]["report"] = target["meta"].get("defense_report", {})

        ctx, ledger = self.context(cell, attack, defense, target["module"])
        candidates = ctx.candidates
        status, error, output = self._score(attack, ctx, ledger, budget.device_seconds)
        record["budget"]["used"] = ledger.used()
        if status == "ok" and ledger.device_seconds() > budget.device_seconds:
            status, error = "over_budget", f"attack {attack.name!r} used {ledger.device_seconds():.1f} device-seconds, over the {budget.tier!r} budget of {budget.device_seconds:g}"
        if status != "ok":
            return self._fail(record, status, error), None

        truth = split.is_member()
        try:
            if Task(track.task).is_membership:
                scores = _check_scores(attack.name, output, len(candidates))
                record["metrics"] = membership_metrics(scores, truth, threshold=ctx.threshold, seed=cell.seed)
                arrays = {"scores": scores, "is_member": truth, "candidate_units": np.asarray(split.candidates), **ctx.exports}
            else:
                record["metrics"] = _check_metrics(attack.name, output)
                arrays = None
        except ValueError as exc:
            return self._fail(record, "failed", str(exc)), None
        if self.plan.scenarios and ctx.threshold is not None and Task(track.task).is_membership:
            record["metrics"]["fpr_nonmembers"] = float(np.mean(scores[~truth] >= ctx.threshold))
            try:
                extra, record["scenarios"] = self.scenario_metrics(cell, defense, target["module"], ctx.threshold)
            except Exception as exc:  # a scenario is extra evidence: its failure is noted, the cell stays ok
                extra, record["scenarios"] = {}, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            record["metrics"].update(extra)
        record["status"] = "ok"
        return record, arrays

    def scenario_metrics(self, cell: Cell, defense: Defense, module: Any, threshold: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """FPRs on the track's extra non-member sets, and a note for the record (``record["scenarios"]``).

        The attack (a fresh instance) scores the sets in a second context of their own, with its own
        budget ledger; a failure there is noted, never fatal to the cell."""
        from ._api import Dataset
        from ._context import ModelFactory
        from .scenarios import combine, fpr_metrics, scenario_sha256

        track, data, split = self.track(cell.track)
        sets = track.extra_nonmembers(data, split)
        if not sets:
            return {}, {"status": "none", "sets": {}}
        cands, group = combine(sets, track.split_seed)
        attack = self.registry.attack(cell.attack, **cell.attack_params)
        budget = track.budgets[cell.budget]
        # The scenario points join the data as new units, so online shadows can train on them like candidates.
        data_ext = Dataset.concat([data, Dataset(**{f: getattr(cands, f) for f in data.fields})])
        units = np.arange(len(data), len(data_ext))
        progress = (lambda desc: self.progress.bar(desc)) if self.plan.progress else None
        factory = ModelFactory(track, data_ext, scenario_sha256(split.sha256, cands), defense, self.cache, self.device, progress)
        ctx, ledger = self.context(cell, attack, defense, module, candidates=(cands, units), factory=factory, owner_note=" (scenarios)")
        status, error, output = self._score(attack, ctx, ledger, budget.device_seconds)
        if status == "ok":
            try:
                scores = _check_scores(attack.name, output, len(cands))
            except ValueError as exc:
                status, error = "failed", str(exc)
        note = {"status": status, "sets": {k: len(v) for k, v in sets.items()}, "used": ledger.used()}
        if status != "ok":
            return {}, {**note, "error": error}
        return fpr_metrics(scores, group, ctx.threshold if ctx.threshold is not None else threshold), note

    def context(self, cell: Cell, attack: Attack, defense: Defense, module: Any, *, candidates: tuple[Any, np.ndarray] | None = None,
                factory: Any = None, owner_note: str = "") -> tuple[Any, Any]:
        """The attack's context for a cell and its budget ledger; membership stays here, in the split.

        ``candidates`` (data, unit ids) and ``factory`` replace the cell's own for the scenario sets."""
        from ._context import AttackContext, BudgetLedger, TargetOracle, _ShadowSource

        track, data, split = self.track(cell.track)
        budget = track.budgets[cell.budget]
        cands, units = candidates if candidates is not None else (track.candidates(data, split.candidates), split.candidates)
        ledger = BudgetLedger(budget, len(cands), owner=f"attack {attack.name!r}{owner_note}")
        ctx = AttackContext(
            candidates=cands,
            population=track.candidates(data, split.population),
            target=TargetOracle(defense.serve(track.predictor(module)), module, attack.threat_model, ledger),
            track=track.info(data, split),
            ledger=ledger,
            seed=cell.seed,
            device=self.device,
            shadow_source=_ShadowSource(factory or self.factory(cell, defense), track, units, split.population, cell.seed, len(split.members), budget.max_shadows),
        )
        return ctx, ledger

    def _score(self, attack: Attack, ctx: Any, ledger: Any, limit_seconds: float) -> tuple[str, str | None, Any]:
        """Run ``attack.score(ctx)`` in a worker thread; a hang is abandoned after the budget plus grace."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["out"] = attack.score(ctx)
            except BaseException as exc:  # reported in the record, never raised into the grid
                box["exc"] = exc
                box["tb"] = traceback.format_exc(limit=-4)

        thread = threading.Thread(target=work, name=f"attack-{attack.name}", daemon=True)
        thread.start()
        wait = limit_seconds * 1.1 + self.plan.timeout_grace
        thread.join(wait)
        if thread.is_alive():
            ledger.stop("timed out")  # any later query by the abandoned thread raises
            return "timeout", f"attack {attack.name!r} did not return within {wait:.0f} s (budget {limit_seconds:g} device-seconds); abandoned", None
        exc = box.get("exc")
        if exc is None:
            return "ok", None, box.get("out")
        if isinstance(exc, BudgetExceeded):
            return "over_budget", str(exc), None
        if isinstance(exc, ThreatModelViolation):
            return "failed", f"threat-model violation: {exc}", None
        return "failed", f"attack {attack.name!r} raised {type(exc).__name__}: {exc}\n{box.get('tb', '')}".rstrip(), None

    def _skeleton(self, cell: Cell, track: Any, split: Any) -> dict[str, Any]:
        def plugin(kind: str, name: str) -> str | None:
            try:
                return self.registry.get(kind, name).plugin.name
            except PluginError:
                return None

        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id(cell, track.version, split.sha256),
            "track": {"name": track.name, "version": track.version, "split_sha256": split.sha256, "task": Task(track.task).value},
            "attack": {"name": cell.attack, "params": dict(cell.attack_params), "plugin": plugin("attacks", cell.attack), "version": None},
            "defense": {"name": cell.defense, "params": dict(cell.defense_params), "plugin": plugin("defenses", cell.defense), "version": None, "adaptive_shadows": True},
            "seed": cell.seed,
            "budget": {"tier": cell.budget, "limits": {}, "used": {}},
            "status": None,
            "error": None,
            "metrics": {},
            "utility": {},
            "provenance": provenance(self.device),
            "created_at": now(),
        }

    @staticmethod
    def _fail(record: dict[str, Any], status: str, error: str | None) -> dict[str, Any]:
        record["status"] = status
        record["error"] = error
        record["metrics"] = {}
        return record


def _check_scores(name: str, output: Any, n: int) -> np.ndarray:
    try:
        scores = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"attack {name!r} returned {type(output).__name__}, not an array of {n} numbers") from None
    if scores.shape != (n,):
        raise ValueError(f"attack {name!r} returned scores of shape {scores.shape}, expected ({n},): one per candidate")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(f"attack {name!r} returned {int(bad.sum())} non-finite scores (NaN/inf) of {n}, e.g. at candidate {int(np.argmax(bad))}")
    return scores


def _check_metrics(name: str, output: Any) -> dict[str, float]:
    if not isinstance(output, Mapping) or not output:
        raise ValueError(f"attack {name!r} on an integrity track must return a non-empty dict of metrics, got {type(output).__name__}")
    out = {}
    for k, v in output.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"attack {name!r} returned metric {k!r} = {v!r}, not a number") from None
        if not np.isfinite(f):
            raise ValueError(f"attack {name!r} returned a non-finite metric {k!r} = {f}")
        out[str(k)] = f
    return out


class CellRunner:
    """A picklable job for executors: builds a Session lazily in whatever process runs it."""

    def __init__(self, plan: Plan, session: Session | None = None):
        self.plan = plan
        self._session = session

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan, "_session": None}

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(self.plan)
        return self._session

    def on_device(self, device: str | None) -> "CellRunner":
        """The same job for a worker process pinned to ``device`` (None: the plan's); no progress bars there."""
        import dataclasses

        return CellRunner(dataclasses.replace(self.plan, device=device or self.plan.device, progress=False))

    def failed(self, cell: Cell, error: str) -> dict[str, Any]:
        """The record of a cell an executor could not run (e.g. its worker died more often than retried)."""
        return _orphan_record(cell, error)

    def __call__(self, cell: Cell) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
        try:
            return self.session.run_cell(cell)
        except Exception as exc:  # a track that fails to load, say: recorded, not fatal
            return _orphan_record(cell, f"{type(exc).__name__}: {exc}"), None


def _orphan_record(cell: Cell, error: str) -> dict[str, Any]:
    spec = json.dumps(asdict(cell), sort_keys=True, default=str)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": hashlib.sha256(spec.encode()).hexdigest(),
        "track": {"name": cell.track, "version": None, "split_sha256": None},
        "attack": {"name": cell.attack, "params": dict(cell.attack_params), "plugin": None, "version": None},
        "defense": {"name": cell.defense, "params": dict(cell.defense_params), "plugin": None, "version": None},
        "seed": cell.seed,
        "budget": {"tier": cell.budget, "limits": {}, "used": {}},
        "status": "failed",
        "error": error,
        "metrics": {},
        "utility": {},
        "provenance": provenance("unknown"),
        "created_at": now(),
    }


def expand_grid(plan: Plan) -> list[Cell]:
    """Cells ordered so that each (track, defense, seed) group runs together (one target per group)."""
    cells = []
    for t in plan.tracks:
        for d in plan.defenses:
            for s in plan.seeds:
                for a in plan.attacks:
                    cells.append(Cell(t, d, a, s, plan.budget, dict(plan.params.get(d, {})), dict(plan.params.get(a, {}))))
    return cells


def run_plan(
    plan: Plan,
    *,
    session: Session | None = None,
    executor: Any = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) a plan; returns the records of its cells, newly run or found finished."""
    session = session or Session(plan)
    writer = ResultsWriter(plan.out_dir)
    done = writer.done()
    cells = expand_grid(plan)
    ids: list[str | None] = []
    todo = []
    for cell in cells:
        try:
            rid = session.run_id(cell)
        except Exception:
            rid = None  # the track fails to load: the cell runs and records why
        ids.append(rid)
        prev = done.get(rid) if rid else None
        if prev is not None and not (plan.retry_failed and prev["status"] == "failed"):
            continue
        todo.append(cell)
    session.manager.call("run_started", plan=plan)
    executor = executor or session.registry.get("executors", "local").obj()
    bar = None
    if plan.progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="cells", unit="cell", dynamic_ncols=True)
    unplanned: list[dict[str, Any]] = []  # records whose run id could not be computed up front (a track that fails to load)
    for record, arrays in executor.map(CellRunner(plan, session), todo):
        if arrays is not None:
            record["scores_file"] = writer.save_scores(record["run_id"], arrays)
        writer.append(record)
        done[record["run_id"]] = record
        if record["run_id"] not in ids:
            unplanned.append(record)
        session.manager.call("record_written", record=record)
        if on_record:
            on_record(record)
        if bar is not None:
            bar.set_postfix_str(f"{record['attack']['name']}: {record['status']}")
            bar.update(1)
    if bar is not None:
        bar.close()
    return [done[rid] for rid in ids if rid in done] + unplanned
