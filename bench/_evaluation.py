"""Harness metrics over many targets: pooled ROC metrics, per-target spread, calibrated operating points, ε audit.

An attack is run against T targets of one cell in turn (``bench._pool_design``). Its scores are pooled into one set of
T × 2N decisions for the ROC metrics (AUC, TPR at fixed FPR, with intervals), as LiRA and RMIA evaluate.

Operating points are the harness's, not the attack's: for target t, the threshold at nominal FPR α is read off the
attack's scores of the *other* targets' non-members (models trained alike, on halves of the same pool: the harness
knows their membership; the attack never does), so no threshold is ever fitted on the decisions it is measured on. At those
thresholds the harness reports the realised FPR and TPR on the targets' ordinary non-members and members, the
balanced accuracy, the FPR on each extra non-member set (neighbours, OOD, generated, shifted), and an empirical ε
lower bound (``bench.epsilon``) with α split over the operating points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .epsilon import EpsilonBound, epsilon_from_counts
from .metrics import auc, clopper_pearson, membership_metrics, roc, tpr_at_fpr

__all__ = ["NOMINAL_FPRS", "TargetRun", "OperatingPoint", "Evaluation", "evaluate_targets", "leave_one_out_thresholds"]

NOMINAL_FPRS = (0.01, 0.05)


@dataclass(frozen=True)
class TargetRun:
    """One target's scores of the pool candidates, its ground truth, and its scores of extra non-member sets."""

    target: int
    scores: np.ndarray
    is_member: np.ndarray
    scenarios: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class OperatingPoint:
    nominal_fpr: float
    fpr: float
    fpr_ci: tuple[float, float]
    tpr: float
    tpr_ci: tuple[float, float]
    balanced_accuracy: float
    scenario_fpr: dict[str, float]
    scenario_fpr_ci: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Evaluation:
    pooled: dict[str, Any]  # membership_metrics of the pooled decisions
    per_target: list[dict[str, float]]  # auc, tpr@0.1%fpr, tpr@1%fpr of each target
    operating_points: list[OperatingPoint]
    epsilon: EpsilonBound


def leave_one_out_thresholds(runs: Sequence[TargetRun], nominal: Sequence[float] = NOMINAL_FPRS) -> np.ndarray:
    """(T, K) thresholds: for target t and level α, the smallest τ with FPR ≤ α on the other targets' non-members."""
    if len(runs) < 2:
        raise ValueError("calibrated operating points need at least 2 targets (each is calibrated on the others)")
    out = np.empty((len(runs), len(nominal)))
    for i in range(len(runs)):
        neg = np.sort(np.concatenate([r.scores[~r.is_member] for j, r in enumerate(runs) if j != i]))[::-1]
        for k, alpha in enumerate(nominal):
            allowed = int(np.floor(alpha * len(neg)))  # false positives allowed among the calibration non-members
            # "member" iff score >= τ: put τ just above the (allowed+1)-th largest non-member score.
            out[i, k] = np.nextafter(neg[allowed], np.inf) if allowed < len(neg) else -np.inf
    return out


def _operating_point(runs: Sequence[TargetRun], taus: np.ndarray, alpha: float) -> tuple[OperatingPoint, tuple[int, int, int, int]]:
    fp = fn = n_out = n_in = 0
    sc_hits: dict[str, int] = {}
    sc_n: dict[str, int] = {}
    for r, tau in zip(runs, taus):
        said = r.scores >= tau
        fp += int((said & ~r.is_member).sum())
        fn += int((~said & r.is_member).sum())
        n_out += int((~r.is_member).sum())
        n_in += int(r.is_member.sum())
        for name, s in r.scenarios.items():
            sc_hits[name] = sc_hits.get(name, 0) + int((np.asarray(s) >= tau).sum())
            sc_n[name] = sc_n.get(name, 0) + len(s)
    tp = n_in - fn
    point = OperatingPoint(
        nominal_fpr=alpha,
        fpr=fp / n_out, fpr_ci=clopper_pearson(fp, n_out),
        tpr=tp / n_in, tpr_ci=clopper_pearson(tp, n_in),
        balanced_accuracy=0.5 * (tp / n_in + 1 - fp / n_out),
        scenario_fpr={k: sc_hits[k] / sc_n[k] for k in sc_n if sc_n[k]},
        scenario_fpr_ci={k: clopper_pearson(sc_hits[k], sc_n[k]) for k in sc_n if sc_n[k]},
    )
    return point, (fp, n_out, fn, n_in)


def evaluate_targets(runs: Sequence[TargetRun], *, nominal: Sequence[float] = NOMINAL_FPRS, delta: float = 1e-5,
                     confidence: float = 0.95, n_boot: int = 200, seed: int = 0) -> Evaluation:
    """Pooled metrics, per-target spread, operating points and the ε audit of an attack over T targets."""
    for r in runs:
        if r.scores.shape != r.is_member.shape:
            raise ValueError(f"target {r.target}: {r.scores.shape[0]} scores for {r.is_member.shape[0]} candidates")
    scores = np.concatenate([r.scores for r in runs])
    truth = np.concatenate([r.is_member for r in runs])
    pooled = membership_metrics(scores, truth, n_boot=n_boot, seed=seed)
    per_target = []
    for r in runs:
        fpr, tpr, _ = roc(r.scores, r.is_member)
        per_target.append({"target": r.target, "auc": auc(r.scores, r.is_member),
                           "tpr@0.1%fpr": tpr_at_fpr(fpr, tpr, 0.001), "tpr@1%fpr": tpr_at_fpr(fpr, tpr, 0.01)})
    if len(runs) < 2:
        return Evaluation(pooled, per_target, [], EpsilonBound(0.0, None, delta, confidence, None, None))
    taus = leave_one_out_thresholds(runs, nominal)
    alpha = (1 - confidence) / len(nominal)  # Bonferroni over the operating points
    points, best = [], EpsilonBound(0.0, None, delta, confidence, None, None)
    for k, level in enumerate(nominal):
        point, counts = _operating_point(runs, taus[:, k], level)
        points.append(point)
        eps, fpr_hi, fnr_hi = epsilon_from_counts(*counts, delta=delta, alpha=alpha)
        if best.threshold is None or eps > best.epsilon:
            best = EpsilonBound(eps, level, delta, confidence, fpr_hi, fnr_hi)  # threshold: the nominal FPR level
    return Evaluation(pooled, per_target, points, best)
