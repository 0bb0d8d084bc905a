"""A harness session: plugins, data, splits and trained targets memoized across cells; runs one cell.

Membership stays here, in the split: an attack's context is built from the public parts, its scores are checked
and turned into metrics and a record by the harness."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from ._api import Attack, Defense, PluginError, Task, ThreatModel
from ._plan import Cell, Plan, run_id
from ._progress import Progress
from ._record import AttackRef, DefenseRef, Record, TrackRef
from ._records import RecordDraft
from ._scoring import check_metrics, check_scores, score_in_thread
from ._threads import pin_cpu_threads

__all__ = ["Session"]


class Session:
    """Per-process state: plugins, data, splits and trained targets, memoized across cells."""

    def __init__(self, plan: Plan, registry: Any = None, cache: Any = None, manager: Any = None, external_targets: dict[str, Any] | None = None):
        from ._cache import ModelCache
        from ._plugins import PluginManager, load_plugins

        self.plan = plan
        if plan.official:  # split seed drawn at run time, cold private cache, attack plugins imported only in the sandbox
            from ._official import official_setup

            manager, registry = official_setup(plan, registry, manager)
            cache = None
        elif registry is None:
            manager, registry = load_plugins(plan.plugin_files)
        # Event hooks fire whoever made the session: the manager that built the registry, else an empty one.
        self.manager = manager or getattr(registry, "manager", None) or PluginManager()
        self.registry = registry
        self.cache = cache if cache is not None else ModelCache(plan.cache_dir)
        self.progress = Progress(plan.progress)
        self._tracks: dict[str, tuple[Any, Any, Any]] = {}
        self._targets: dict[tuple, Any] = {}
        self._designs: dict[tuple, Any] = {}
        self._pool_models: dict[tuple, Any] = {}
        self._device: str | None = plan.device
        pin_cpu_threads()  # a run's numbers must not depend on the machine's cores or on --slots
        self._workers: Any = None
        # SEAM (bench.audit_model): track -> a target trained outside the harness, serving that track's cells (not shadows)
        self.external_targets = dict(external_targets or {})

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
            if self.plan.official:
                track.split_seed = self.plan.split_seed  # drawn at run time: the track's public seed is not the split
            data = track.load()
            split = track.split(data)
            self._tracks[name] = (track, data, split)
        return self._tracks[name]

    def defense(self, cell: Cell) -> Defense:
        return self.registry.defense(cell.defense, **cell.defense_params)

    def factory(self, cell: Cell, defense: Defense, split_sha256: str | None = None, population: Any = None) -> Any:
        from ._models import ModelFactory

        track, data, split = self.track(cell.track)
        progress = (lambda desc: self.progress.bar(f"{desc} [{cell.track}/{cell.defense}/seed{cell.seed}]")) if self.plan.progress else None
        # [honest defenses] defenses' reference data are population units, never members (ModelFactory.reference_units)
        return ModelFactory(track, data, split_sha256 or split.sha256, defense, self.cache, self.device, progress,
                            population=split.population if population is None else population)

    # -- LiRA's pool design (bench._pool_cell): M models per (track, defense, seed), T of them targets --------------
    def uses_pool(self, track: Any) -> bool:
        return bool(getattr(track, "pool_design", False)) and Task(track.task).is_membership

    def pool_design(self, cell: Cell) -> Any:
        from ._pool_cell import design_for

        track, data, _ = self.track(cell.track)
        key = (cell.track, cell.seed, cell.budget)
        if key not in self._designs:
            budget = track.budgets[cell.budget]
            self._designs[key] = design_for(track, data, cell.seed, budget.models, track.split_seed, budget.targets)
        return self._designs[key]

    def n_targets(self, cell: Cell) -> int:
        track = self.track(cell.track)[0]
        budget = track.budgets[cell.budget]
        return max(1, min(int(self.plan.targets or budget.targets), budget.targets))  # the design trains the tier's T

    def pool_models(self, cell: Cell, defense: Defense) -> Any:
        """The M models of (track, defense, seed, tier), trained or loaded once per session."""
        from ._pool_cell import train_pool_models

        key = (cell.track, cell.defense, json.dumps(dict(cell.defense_params), sort_keys=True, default=str), cell.seed, cell.budget)
        if key not in self._pool_models:
            design = self.pool_design(cell)
            try:
                self._pool_models[key] = train_pool_models(self.factory(cell, defense, design.pool_sha256, design.population), design, cell.seed)
            except Exception as exc:
                self._pool_models[key] = exc
        got = self._pool_models[key]
        if isinstance(got, Exception):
            raise got
        return got

    def target(self, cell: Cell) -> dict[str, Any]:
        """The target of (track, defense, seed): trained (or loaded) once, with its utility."""
        key = (cell.track, cell.defense, json.dumps(dict(cell.defense_params), sort_keys=True, default=str), cell.seed)
        if key not in self._targets:
            track, data, split = self.track(cell.track)
            defense = self.defense(cell)
            factory = self.factory(cell, defense)
            try:
                if cell.track in self.external_targets:  # SEAM (bench.audit_model): the user's model, never trained here
                    module, meta, cached = self.external_targets[cell.track], {"train_seconds": 0.0, "defense_report": {}}, False
                else:
                    module, meta, cached = factory.get("target", split.members, cell.seed)
                utility = track.utility(module, data, split)
                self._targets[key] = {"module": module, "meta": meta, "cached": cached, "utility": utility, "error": None}
            except Exception as exc:
                self._targets[key] = {"error": f"training the target with defense {cell.defense!r} failed: {type(exc).__name__}: {exc}"}
        return self._targets[key]

    def run_id(self, cell: Cell) -> str:
        track, _, split = self.track(cell.track)
        return run_id(cell, track.version, self.split_sha256(cell), self.identity(cell))

    def split_sha256(self, cell: Cell) -> str:
        """What the cell's numbers are measured on: the pool design's sha256, else the track's split."""
        track, _, split = self.track(cell.track)
        if self.uses_pool(track) and cell.budget in track.budgets:
            return self.pool_design(cell).sha256
        return split.sha256

    def identity(self, cell: Cell) -> dict[str, Any]:
        """Everything besides the cell's names that decides its numbers (see ``bench._identity``)."""
        from ._identity import cell_identity

        return cell_identity(self, cell)

    def run_cell(self, cell: Cell) -> tuple[Record, dict[str, np.ndarray] | None]:
        """Run one cell; returns the record (without ``scores_file``) and the per-candidate arrays."""
        self.progress.start(cell)  # the progress bars name the cell (track/defense/attack/seed)
        record, arrays = self._run_cell(cell)
        if self.plan.official:  # only now, with the attack's scores in: the seed that made the split
            record = record.replace(official=True, track=replace(record.track, split_seed=self.plan.split_seed))
        return record, arrays

    def _run_cell(self, cell: Cell) -> tuple[Record, dict[str, np.ndarray] | None]:
        from .metrics import membership_metrics

        track, data, split = self.track(cell.track)
        budget = track.budgets.get(cell.budget)
        draft = self._draft(cell, track, split)
        if budget is None:
            return draft.fail("failed", f"track {cell.track!r} has no budget tier {cell.budget!r}; tiers: {', '.join(track.budgets)}"), None
        draft.limits(budget.tier, budget.limits())
        try:
            attack: Attack = self.registry.attack(cell.attack, **cell.attack_params)
            defense = self.defense(cell)
        except (PluginError, ValueError, TypeError) as exc:
            return draft.fail("failed", str(exc)), None
        draft.resolved(attack, defense)
        from ._identity import plugin_provenance

        draft.plugins = plugin_provenance(self, cell, track, draft.identity)
        if not attack.supports(track.task):
            return draft.fail("failed", f"attack {attack.name!r} does not support task {Task(track.task).value!r} of track {track.name!r}"), None
        if self.uses_pool(track):
            from ._pool_cell import run_pool_cell

            return run_pool_cell(self, cell, draft, defense)

        target = self.target(cell)
        if target["error"]:
            return draft.fail("failed", target["error"]), None
        draft.trained(target["utility"], target["meta"].get("defense_report", {}))
        ctx, ledger = self.context(cell, attack, defense, target["module"], prepared=target["meta"].get("prepared"))  # [honest defenses]
        status, error, output = self._score(attack, ctx, ledger, budget.device_seconds, cell=cell, defense=defense)
        boxes = [getattr(ctx, "isolation", None)]  # and the scenario run's below: the record takes the least isolated
        draft.isolated(*boxes)
        draft.used(ledger.used())
        if status == "ok" and ledger.device_seconds() > budget.device_seconds:
            status, error = "over_budget", f"attack {attack.name!r} used {ledger.device_seconds():.1f} device-seconds, over the {budget.tier!r} budget of {budget.device_seconds:g}"
        if status != "ok":
            return draft.fail(status, error), None

        truth = split.is_member()
        try:
            if Task(track.task).is_membership:
                scores = check_scores(attack.name, output, len(split.candidates))  # the split's, not the context's
                metrics = membership_metrics(scores, truth, threshold=ctx.threshold, seed=cell.seed)
                arrays = {**ctx.exports, "scores": scores, "is_member": truth, "candidate_units": np.asarray(split.candidates)}  # the harness's own win
            else:
                metrics = check_metrics(attack.name, output)
                arrays = None
        except ValueError as exc:
            return draft.fail("failed", str(exc)), None
        scenarios = None
        if self.plan.scenarios and ctx.threshold is not None and Task(track.task).is_membership:
            metrics["fpr_nonmembers"] = float(np.mean(scores[~truth] >= ctx.threshold))
            try:
                extra, scenarios = self.scenario_metrics(cell, defense, target["module"], ctx.threshold, boxes=boxes)
            except Exception as exc:  # a scenario is extra evidence: its failure is noted, the cell stays ok
                extra, scenarios = {}, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            metrics.update(extra)
            draft.isolated(*boxes)
        return draft.ok(metrics, scenarios), arrays

    def scenario_metrics(self, cell: Cell, defense: Defense, module: Any, threshold: float, boxes: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """FPRs on the track's extra non-member sets and a note for the record (``record.scenarios``): a fresh instance of
        the attack scores them in a context and budget of their own (its isolation joins ``boxes``); a failure is noted."""
        from ._api import Dataset
        from ._models import ModelFactory
        from .scenarios import DECOY, fpr_metrics, scenario_points, scenario_sha256

        track, data, split = self.track(cell.track)
        got = scenario_points(track, data, split, track.split_seed)
        if got is None:
            return {}, {"status": "none", "sets": {}}
        cands, group = got
        attack = self.registry.attack(cell.attack, **cell.attack_params)
        budget = track.budgets[cell.budget]
        # The scenario points join the data as new units, so online shadows can train on them like candidates.
        data_ext = Dataset.concat([data, Dataset(**{f: getattr(cands, f) for f in data.fields})])
        units = np.arange(len(data), len(data_ext))
        progress = (lambda desc: self.progress.bar(desc)) if self.plan.progress else None
        factory = ModelFactory(track, data_ext, scenario_sha256(split.sha256, cands), defense, self.cache, self.device, progress,
                               population=split.population)  # [honest defenses]
        ctx, ledger = self.context(cell, attack, defense, module, candidates=(cands, units), factory=factory, owner_note=" (scenarios)",
                                   prepared=self.target(cell)["meta"].get("prepared"))  # [honest defenses]
        status, error, output = self._score(attack, ctx, ledger, budget.device_seconds, cell=cell, defense=defense)
        boxes.append(getattr(ctx, "isolation", None))
        if status == "ok":
            try:
                scores = check_scores(attack.name, output, len(cands))
            except ValueError as exc:
                status, error = "failed", str(exc)
        note = {"status": status, "sets": {str(k): int((group == k).sum()) for k in sorted(set(group.tolist()))}, "used": ledger.used()}
        if status != "ok":
            return {}, {**note, "error": error}
        fprs = fpr_metrics(scores, group, ctx.threshold if ctx.threshold is not None else threshold)
        return {k: v for k, v in fprs.items() if not k.startswith(f"fpr_{DECOY}")}, note

    def context(self, cell: Cell, attack: Attack, defense: Defense, module: Any, *, candidates: tuple[Any, np.ndarray | None] | None = None,
                factory: Any = None, owner_note: str = "", split: Any = None, shadow_source: Any = None, prepared: Any = None) -> tuple[Any, Any]:
        """The attack's context for a cell and its budget ledger; membership stays here, in the split.

        ``candidates`` (data, unit ids) and ``factory`` replace the cell's own for the scenario sets.
        A white-box attack gets its own copy of the target: what it does to the weights stays in its cell.
        ``prepared``: what the defense fitted to serve the target (``Defense.prepare``, e.g. MemGuard's defender)."""
        import copy

        from ._context import AttackContext, BudgetLedger, TargetOracle
        from ._models import private, serve
        from ._shadows import ShadowSource

        if ThreatModel(attack.threat_model) >= ThreatModel.WHITEBOX:
            module = copy.deepcopy(module)
        track, data, cell_split = self.track(cell.track)
        split = split if split is not None else cell_split
        budget = track.budgets[cell.budget]
        cands, units = candidates if candidates is not None else (track.candidates(data, split.candidates), split.candidates)
        ledger = BudgetLedger(budget, len(cands), owner=f"attack {attack.name!r}{owner_note}")
        ctx = AttackContext(
            candidates=cands,
            population=track.candidates(data, split.population),
            target=TargetOracle(serve(defense, track.predictor(module), private(prepared)), module, attack.threat_model, ledger, prepared),  # [honest defenses] private: asks stay here
            track=track.info(data, split),
            ledger=ledger,
            seed=cell.seed,
            device=self.device,
            shadow_source=shadow_source or ShadowSource(factory or self.factory(cell, defense), track, units, split.population, cell.seed, len(split.members), budget.max_shadows),
        )
        return ctx, ledger

    def _score(self, attack: Attack, ctx: Any, ledger: Any, limit_seconds: float, *, cell: Cell, defense: Defense) -> tuple[str, str | None, Any]:
        """Run ``attack.score(ctx)`` in a worker process (``isolation="process"``) or, for unit tests, a thread."""
        if self.scores_in_workers:
            return self._score_in_worker(attack, ctx, ledger, cell, defense)
        if self.plan.isolation not in ("thread", None):
            return "failed", f"unknown isolation {self.plan.isolation!r}; expected 'process' or 'thread'", None
        return score_in_thread(attack, ctx, ledger, limit_seconds, self.plan.timeout_grace)

    @property
    def workers(self) -> Any:
        """The session's attack workers (one sandboxed zygote), hiding cache, run folder and home (nobody: by permissions)."""
        if self._workers is None:
            from ._worker import WorkerPool

            self._workers = WorkerPool.shared(hide=[str(self.cache.root), self.plan.out_dir], sandbox=self.plan.sandbox, plugin_files=self.plan.plugin_files)
        return self._workers

    @property
    def scores_in_workers(self) -> bool:
        """Whether attacks score in worker processes (the default, and always officially) rather than in a thread."""
        return self.plan.isolation in ("process", None) or self.plan.official

    def start_workers(self) -> None:
        """Start the worker zygote now if cells will score in workers: its imports overlap loading data and models."""
        if self.scores_in_workers:
            self.workers.start()

    def _score_in_worker(self, attack: Attack, ctx: Any, ledger: Any, cell: Cell, defense: Defense) -> tuple[str, str | None, Any]:
        from ._worker import job_for, run_attack

        result = run_attack(job_for(attack, ctx, ledger, self.track(cell.track)[0], defense, self.plan.plugin_files), self.workers, grace=self.plan.timeout_grace)
        ctx.isolation = result.isolation
        try:  # the attack's operating point and exports, sent back as data, go through the same checks as in-process
            if result.status == "ok" and result.threshold is not None:
                ctx.set_threshold(result.threshold)
            for name, values in result.exports.items() if result.status == "ok" else ():
                ctx.export(name, values)
        except ValueError as exc:
            return "failed", f"attack {attack.name!r}: {exc}", None
        return result.status, result.error, result.output

    def _draft(self, cell: Cell, track: Any, split: Any) -> RecordDraft:
        def plugin(kind: str, name: str) -> str | None:
            try:
                return self.registry.get(kind, name).plugin.name
            except PluginError:
                return None

        identity, sha = self.identity(cell), self.split_sha256(cell)
        draft = RecordDraft(
            run_id(cell, track.version, sha, identity),
            TrackRef(track.name, track.version, sha, Task(track.task).value),
            AttackRef(cell.attack, dict(cell.attack_params), plugin("attacks", cell.attack)),
            DefenseRef(cell.defense, dict(cell.defense_params), plugin("defenses", cell.defense), adaptive_shadows=True),
            cell.seed, cell.budget, self.device,
        )
        draft.identity = identity
        return draft
