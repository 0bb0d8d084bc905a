"""LiRA's pool design in the runner: M models per (track, defense, seed), each attack run against T of them.

Per (track, seed) the harness draws one pool of 2N units and M independent uniform halves of it
(``bench._pool_design``); the M models train once per defense and serve every attack of the group. An attack is
run against targets 0 … T−1 in turn: its candidates are the whole pool, its shadows models T … M−1 with their
inclusion over the pool, the same for every target, so no target's membership is in any run's input. The harness pools the T × 2N
decisions (``bench._evaluation``) and fixes the operating points on the other targets' non-members.

Scenario sets (neighbours of *this* target's members, OOD, shifted) are scored in a second run per target, after
the first one's scores are in: candidates are the pool plus the set, shuffled, so shadows' inclusion over the pool
still gives per-example statistics while no shadow trained on a scenario point. OOD points carry the target's
predicted label as their claimed label (the attacker has no true label for them). Near-copies of members alone
would name the target's members (each is a noisy copy of one pool point: on digits all 500 of them; a reviewer's
attack read them in the scenario run and carried them to another cell's run against the same target through the
page cache, AUC 1.0), so the same sets are also made from as many of its non-members, as decoys: scored in the same
run, never reported, they make a pool point's having a copy independent of its membership.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._api import Candidates, Defense, PluginError
from ._context import BudgetLedger, ShadowModel, Shadows
from ._cost import training_cost
from ._evaluation import TargetRun, evaluate_targets
from ._answers import answer_queries, answered_copies, common_queries
from ._models import private, serve
from ._pool_design import PoolDesign, draw_pool_design
from .scenarios import DECOY, scenario_points

if TYPE_CHECKING:  # pragma: no cover
    from ._plan import Cell
    from ._track import Track

__all__ = ["PoolModel", "PoolShadowSource", "design_for", "train_pool_models", "evaluation_metrics", "pool_context", "run_pool_cell",
           "SCENARIO_TARGETS", "DECOY"]

SCENARIO_TARGETS = 4  # scenario sets are scored against the first targets only (each costs a second attack run)


@dataclass
class PoolModel:
    """One trained model of the pool: a target (index < T) or a shadow of every target."""

    index: int
    module: Any
    key: str
    train_seconds: float
    report: dict[str, Any]
    prepared: Any = None  # the defense's per-model serving state (``Defense.prepare``, e.g. MemGuard's defender)
    cost: Any = None  # machine-independent training cost (``bench._cost``), what a shadow is charged
    device: str = "cpu"


def design_for(track: "Track", data: Any, seed: int, n_models: int, split_seed: int, n_targets: int) -> PoolDesign:
    """The (track, seed) pool design: N = the track's member count, population as the track's split sizes; the first
    ``n_targets`` of the ``n_models`` models are the targets."""
    sizes = dict(track.split_sizes)
    if sizes.get("nonmembers") != sizes.get("members"):
        raise ValueError(f"track {track.name!r}: the pool design needs as many non-members as members (split_sizes {sizes})")
    return draw_pool_design(track.num_units(data), int(sizes["members"]), n_models, int(sizes["population"]), seed=[int(split_seed), int(seed)],
                            n_targets=n_targets)


def model_seed(seed: int, index: int) -> int:
    return int(np.random.default_rng([int(seed), int(index), 0x7001]).integers(2**31))


def train_pool_models(factory: Any, design: PoolDesign, seed: int) -> list[PoolModel]:
    """Train (or load) the M models; batched where the model layer can stack them."""
    units = [design.training_units(m) for m in range(design.n_models)]
    seeds = [model_seed(seed, m) for m in range(design.n_models)]
    out = []
    for m, (module, meta, _cached, _now) in enumerate(factory.get_many("model", units, seeds)):
        fitted = meta.get("fitted_rows")
        if fitted is not None:  # every unit scored as a member must have been trained on (honest defenses)
            rows = np.asarray(factory.track.training_rows(factory.data, units[m]))
            missed = np.setdiff1d(rows, np.asarray(fitted))
            if missed.size:
                raise PluginError(f"defense {factory.defense.name!r} did not train model {m} on {missed.size} of its {rows.size} member rows"
                                  f" (e.g. row {int(missed[0])}); a defense's held-out data must come from trainer.reference, never the members")
        out.append(PoolModel(m, module, meta["key"], float(meta["train_seconds"]), dict(meta.get("defense_report") or {}),
                             meta.get("prepared"), training_cost(meta.get("spec"), module), str(factory.device)))
    if factory.defense.prepares and factory.defense.memoizes_answers:
        bar = factory.progress(f"answer {factory.defense.name}'s common queries") if factory.progress else None
        answer_queries(factory.track, factory.defense, out, common_queries(factory.track, factory.data, design), bar)
    return out


class PoolShadowSource:
    """The shadow models of the pool (never a target) with their inclusion over ``pool``; no target membership.

    ``keep`` is (len(models), len(pool)). Each request gets fresh copies of the modules and of their serving state,
    so what an attack does to a shadow's weights, or asks it, never reaches the model when it is another run's target."""

    def __init__(self, models: list[PoolModel], keep: np.ndarray, pool: Candidates, track: "Track", defense: Defense):
        self._models = list(models)
        self._keep = np.asarray(keep, dtype=bool)
        self._pool = pool
        self._track = track
        self._defense = defense

    def shadows(self, n: int, online: bool, ledger: BudgetLedger) -> Shadows:
        if n < 1:
            raise ValueError(f"ask for at least one shadow model, not {n}")
        if n > len(self._models):
            raise ValueError(f"asked for {n} shadow models; this budget tier's cell has {len(self._models)} shadow models")
        ledger.check()
        chosen = self._models[:n]
        ledger.reserve_shadows([m.key for m in chosen])
        models = []
        for m in chosen:
            ledger.device = m.device
            ledger.charge_shadow(m.key, m.train_seconds, 0.0, m.cost)
            module, prepared = copy.deepcopy(m.module), private(m.prepared)
            models.append(ShadowModel(serve(self._defense, self._track.predictor(module), prepared), module, m.train_seconds, True, prepared))
        # online or offline, the shadows are the same models: offline attacks use only their OUT side (LiRA §IV-C).
        return Shadows(models, self._keep[:n].copy(), self._pool, len(self._pool))


def scenario_candidates(track: "Track", data: Any, split: Any, served: Any, seed: int) -> tuple[Candidates, np.ndarray] | None:
    """The target's scenario points as one list, and each entry's set name (``bench.scenarios.scenario_points``: the
    points do not depend on its membership; the copies of non-members are decoys, ``DECOY`` + name); OOD entries
    relabelled by the target."""
    return scenario_points(track, data, split, seed, relabel_ood=served.predict_labels)


def mixed_with_pool(pool: Candidates, extra: Candidates, seed: int) -> tuple[Candidates, np.ndarray, np.ndarray]:
    """Pool and extra points shuffled together: (candidates, order, is_extra) where candidates = concat[order]."""
    both = Candidates.concat([pool, extra])
    order = np.random.default_rng([int(seed), 0x5CE]).permutation(len(both))
    return both[order], order, order >= len(pool)


def runs_to_arrays(runs: list[TargetRun]) -> dict[str, np.ndarray]:
    """The per-candidate arrays of a scores file: pooled scores and truth with each entry's target, and the
    scenario sets' scores (``scenario_scores``, ``scenario_set``, ``scenario_target``)."""
    sc = [(r.target, name, np.asarray(v, dtype=np.float64)) for r in runs for name, v in sorted(r.scenarios.items())]
    return {
        "scores": np.concatenate([r.scores for r in runs]),
        "is_member": np.concatenate([r.is_member for r in runs]),
        "target": np.concatenate([np.full(len(r.scores), r.target) for r in runs]),
        "scenario_scores": np.concatenate([v for _, _, v in sc]) if sc else np.zeros(0),
        "scenario_set": np.concatenate([np.full(len(v), name) for _, name, v in sc]) if sc else np.zeros(0, dtype="<U1"),
        "scenario_target": np.concatenate([np.full(len(v), t) for t, _, v in sc]) if sc else np.zeros(0, dtype=int),
    }


def runs_from_arrays(arrays: Any) -> list[TargetRun]:
    """The inverse of :func:`runs_to_arrays` (``is_member`` must be the harness's own truth)."""
    scores, truth, target = (np.asarray(arrays[k]) for k in ("scores", "is_member", "target"))
    sc_scores = np.asarray(arrays.get("scenario_scores", np.zeros(0)), dtype=np.float64)
    sc_set = np.asarray(arrays.get("scenario_set", np.zeros(0, dtype="<U1"))).astype(str)
    sc_target = np.asarray(arrays.get("scenario_target", np.zeros(0, dtype=int)))
    runs = []
    for t in np.unique(target):
        here = sc_target == t
        scen = {str(name): sc_scores[here & (sc_set == name)] for name in np.unique(sc_set[here])}
        runs.append(TargetRun(int(t), np.asarray(scores[target == t], dtype=np.float64), np.asarray(truth[target == t], dtype=bool), scen))
    return runs


def evaluation_metrics(runs: list[TargetRun], seed: int) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(metrics, per-target rows, ε note) of an attack over its targets, pooled; rate metrics at the harness's thresholds.

    ``balanced_accuracy``, ``fpr_nonmembers`` and ``fpr_<set>`` are read at the 5 % nominal operating point;
    ``fpr@1%cal``/``tpr@1%cal`` and ``fpr@5%cal``/``tpr@5%cal`` give both points with Clopper–Pearson intervals."""
    ev = evaluate_targets(runs, seed=seed)
    metrics = dict(ev.pooled)
    metrics["balanced_accuracy"] = None
    for point in ev.operating_points:
        tag = f"{point.nominal_fpr:.0%}cal"
        metrics[f"fpr@{tag}"], metrics[f"fpr@{tag}_ci"] = point.fpr, list(point.fpr_ci)
        metrics[f"tpr@{tag}"], metrics[f"tpr@{tag}_ci"] = point.tpr, list(point.tpr_ci)
        if abs(point.nominal_fpr - 0.05) < 1e-12:
            metrics["balanced_accuracy"] = point.balanced_accuracy
            metrics["fpr_nonmembers"], metrics["fpr_nonmembers_ci"] = point.fpr, list(point.fpr_ci)
            for name, value in point.scenario_fpr.items():
                metrics[f"fpr_{name}"], metrics[f"fpr_{name}_ci"] = value, list(point.scenario_fpr_ci[name])
    eps = ev.epsilon
    metrics["epsilon_lb"] = float(eps.epsilon)
    note = {"epsilon": float(eps.epsilon), "delta": eps.delta, "confidence": eps.confidence, "nominal_fpr": eps.threshold,
            "method": "Clopper-Pearson bounds on FPR and FNR at the harness's operating points (Jagielski et al. 2020; Nasr et al. 2021)"}
    return metrics, [dict(row) for row in ev.per_target], note


def pool_context(session: Any, cell: "Cell", attack: Any, defense: Defense, t: int) -> tuple[Any, BudgetLedger, Any]:
    """(context, ledger, split) of ``attack`` against model ``t`` of the cell's pool: candidates the whole pool,
    shadows the design's shadow models. The split (membership) stays with the caller, the harness."""
    track, data, _ = session.track(cell.track)
    design = session.pool_design(cell)
    models = session.pool_models(cell, defense)
    pool = track.candidates(data, design.pool)
    shadows = [models[m] for m in design.shadows_of(t)]
    source = PoolShadowSource(shadows, design.keep[design.shadows_of(t)], pool, track, defense)
    split = design.split(t)
    ctx, ledger = session.context(cell, attack, defense, models[t].module, candidates=(pool, design.pool), split=split,
                                  shadow_source=source, owner_note=f" (target {t})", prepared=models[t].prepared)
    return ctx, ledger, split


def run_pool_cell(session: Any, cell: "Cell", draft: Any, defense: Defense) -> tuple[Any, dict[str, np.ndarray] | None]:
    """One cell on a pool-design track: the attack against T targets in turn, scored by the harness."""
    from ._scoring import check_scores

    track, data, _ = session.track(cell.track)
    budget = track.budgets[cell.budget]
    design = session.pool_design(cell)
    try:
        models = session.pool_models(cell, defense)
    except Exception as exc:
        return draft.fail("failed", f"training the models of defense {cell.defense!r} failed: {type(exc).__name__}: {exc}"), None
    n_targets = session.n_targets(cell)
    pool = track.candidates(data, design.pool)
    runs, used, utilities, notes, boxes = [], [], [], [], []
    exports: dict[str, list[np.ndarray]] = {}
    for t in range(n_targets):
        attack = session.registry.attack(cell.attack, **cell.attack_params)
        ctx, ledger, split = pool_context(session, cell, attack, defense, t)
        utilities.append(track.utility(models[t].module, data, split))
        status, error, output = session._score(attack, ctx, ledger, budget.device_seconds, cell=cell, defense=defense)
        used.append(ledger.used())
        boxes.append(getattr(ctx, "isolation", None))
        if status == "ok" and ledger.device_seconds() > budget.device_seconds:
            status, error = "over_budget", f"attack {attack.name!r} used {ledger.device_seconds():.1f} device-seconds, over the {budget.tier!r} budget of {budget.device_seconds:g}"
        if status == "ok":
            try:
                scores = check_scores(attack.name, output, len(pool))
            except ValueError as exc:
                status, error = "failed", str(exc)
        if status != "ok":
            draft.isolated(*boxes)
            draft.used(_used(used, n_targets))
            return draft.fail(status, f"target {t} of {n_targets}: {error}"), None
        for name, values in ctx.exports.items():
            exports.setdefault(name, []).append(np.asarray(values))
        scen: dict[str, np.ndarray] = {}
        if session.plan.scenarios and t < SCENARIO_TARGETS:
            scen, note = _score_scenarios(session, cell, defense, models, design, t, pool, first_run=scores, boxes=boxes)
            notes.append(note)
        runs.append(TargetRun(t, scores, split.is_member(), scen))
    draft.isolated(*boxes)
    draft.used(_used(used, n_targets))
    draft.trained(_mean_utility(utilities), models[0].report)
    arrays = {
        **{k: np.concatenate(v) for k, v in exports.items() if len(v) == n_targets},
        **runs_to_arrays(runs),
        "candidate_units": np.tile(np.asarray(design.pool), n_targets),
    }
    metrics, per_target, eps = evaluation_metrics(runs_from_arrays(arrays), cell.seed)  # the arrays are what submit re-scores
    design_note = {"kind": "lira-pool", "models": design.n_models, "targets": n_targets, "pool": len(design.pool),
                   "population": len(design.population), "sha256": design.sha256}
    note = _scenario_note(notes)
    if note is not None:
        from .scenarios import GENERATED_SOURCE

        note["sources"] = {"ood": track.ood_source, "generated": GENERATED_SOURCE, "claimed_label_ood": "the target's predicted label"}
    return draft.ok(metrics, note, per_target=per_target, design=design_note, epsilon=eps), arrays


def to_first_run_scale(values: np.ndarray, second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Scenario scores of the second run put on the first run's scale: the monotone map that sends the second run's
    sorted pool scores onto the first run's (the identity when the attack scored the pool alike in both runs).

    The operating points are read off first-run scores; without this an attack that recognises its second run (it
    has more candidates than the pool) could shift every score there and report no false positive on any set."""
    return np.interp(np.asarray(values, dtype=np.float64), np.sort(np.asarray(second, dtype=np.float64)), np.sort(np.asarray(first, dtype=np.float64)))


def _score_scenarios(session: Any, cell: "Cell", defense: Defense, models: list[PoolModel], design: PoolDesign, t: int,
                     pool: Candidates, first_run: np.ndarray, boxes: list[Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Target t's scenario scores by set name (empty on failure), on the first run's scale (``first_run``: target
    t's scores of the pool), and a note; never fatal to the cell."""
    from ._scoring import check_scores

    track, data, _ = session.track(cell.track)
    budget = track.budgets[cell.budget]
    split = design.split(t)
    try:
        got = scenario_candidates(track, data, split, serve(defense, track.predictor(models[t].module), private(models[t].prepared)), seed=cell.seed * 1009 + t)
        if got is None:
            return {}, {"status": "none", "sets": {}}
        extra, group = got
        cands, order, is_extra = mixed_with_pool(pool, extra, seed=cell.seed * 1009 + t)
        models = answered_copies(track, defense, models, [extra.x] if "x" in extra.fields else [], session.__dict__.setdefault("_answered", {}),
                                 (cell.track, cell.defense, repr(sorted(cell.defense_params.items())), cell.seed, cell.budget))  # extras answered as the pool is
        shadows = [models[m] for m in design.shadows_of(t)]
        keep = np.concatenate([design.keep[design.shadows_of(t)], np.zeros((len(shadows), len(extra)), dtype=bool)], axis=1)[:, order]
        source = PoolShadowSource(shadows, keep, cands, track, defense)
        attack = session.registry.attack(cell.attack, **cell.attack_params)
        ctx, ledger = session.context(cell, attack, defense, models[t].module, candidates=(cands, None), split=split,
                                      shadow_source=source, owner_note=f" (target {t}, scenarios)", prepared=models[t].prepared)
        status, error, output = session._score(attack, ctx, ledger, budget.device_seconds, cell=cell, defense=defense)
        boxes.append(getattr(ctx, "isolation", None))
        sets = {str(k): int((group == k).sum()) for k in sorted(set(group.tolist()))}
        if status != "ok":
            return {}, {"status": status, "error": error, "sets": sets}
        scores = check_scores(attack.name, output, len(cands))
    except Exception as exc:  # a scenario is extra evidence: its failure is noted, the cell stays ok
        return {}, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    names = group[order[is_extra] - len(pool)]
    got_scores = to_first_run_scale(scores[is_extra], scores[~is_extra], first_run)
    return {k: got_scores[names == k] for k in sets if not k.startswith(DECOY)}, {"status": "ok", "sets": sets, "used": ledger.used()}


def _scenario_note(notes: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not notes:
        return None
    bad = [n for n in notes if n.get("status") not in ("ok", "none")]
    first = bad[0] if bad else notes[0]
    return {**first, "targets": len(notes), "failed_targets": len(bad)}


def _used(used: list[dict[str, float]], n_targets: int) -> dict[str, float]:
    """Budget use per target (the largest over targets: budgets are per target), with the total device-seconds."""
    out: dict[str, float] = {k: max(u.get(k, 0) for u in used) for k in ("queries", "shadow_models", "device_seconds")}
    out["device_seconds_total"] = round(sum(u.get("device_seconds", 0.0) for u in used), 3)
    out["targets"] = n_targets
    return out


def _mean_utility(rows: list[dict[str, float]]) -> dict[str, float | None]:
    keys = {k for r in rows for k in r}
    return {k: float(np.mean([r[k] for r in rows if r.get(k) is not None])) if any(r.get(k) is not None for r in rows) else None for k in keys}
