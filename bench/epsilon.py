"""Empirical privacy auditing: a lower bound on ε from an attack's decisions (Jagielski et al. 2020; Nasr et al. 2021).

An (ε, δ)-DP training algorithm bounds every membership test: TPR ≤ e^ε·FPR + δ and TNR ≤ e^ε·FNR + δ. With
Clopper–Pearson bounds FPR ≤ F̄ and FNR ≤ N̄ that hold together with confidence 1 − α,

    ε ≥ max( log((1 − δ − N̄) / F̄),  log((1 − δ − F̄) / N̄) ).

The threshold must not be chosen on the decisions it is audited on (that would overstate ε): the harness
passes the thresholds it calibrated on shadow models, and α is split over them (Bonferroni), so the bound
over all of them still holds with confidence 1 − α. numpy/scipy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .metrics import clopper_pearson

__all__ = ["EpsilonBound", "epsilon_lower_bound", "epsilon_from_counts"]


@dataclass(frozen=True)
class EpsilonBound:
    """The audited ε lower bound, where it was reached, and what it assumed."""

    epsilon: float
    threshold: float | None
    delta: float
    confidence: float
    fpr_upper: float | None
    fnr_upper: float | None


def epsilon_from_counts(fp: int, n_out: int, fn: int, n_in: int, *, delta: float, alpha: float) -> tuple[float, float, float]:
    """(ε bound, FPR upper bound, FNR upper bound) from the error counts of one test, each bound at α/2
    one-sided, so that both hold together with confidence 1 − α."""
    fpr_hi = clopper_pearson(fp, n_out, alpha)[1]
    fnr_hi = clopper_pearson(fn, n_in, alpha)[1]
    eps = 0.0
    for num, den in ((1 - delta - fnr_hi, fpr_hi), (1 - delta - fpr_hi, fnr_hi)):
        if num > 0 and den > 0:
            eps = max(eps, math.log(num / den))
    return eps, fpr_hi, fnr_hi


def _bound_at(scores: np.ndarray, truth: np.ndarray, threshold: float, delta: float, alpha: float) -> tuple[float, float, float]:
    said = scores >= threshold
    return epsilon_from_counts(int((said & ~truth).sum()), int((~truth).sum()), int((~said & truth).sum()), int(truth.sum()),
                               delta=delta, alpha=alpha)


def epsilon_lower_bound(scores, is_member, thresholds: Sequence[float], *, delta: float = 1e-5, confidence: float = 0.95) -> EpsilonBound:
    """The largest ε consistent, at ``confidence``, with the TPR/FPR at any of the given thresholds."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_member, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and is_member {y.shape} must be 1-D and of one length")
    if not np.isfinite(s).all():
        raise ValueError("scores contain non-finite values")
    if y.all() or not y.any():
        raise ValueError("need both members and non-members to audit ε")
    if not thresholds:
        raise ValueError("give at least one threshold calibrated on shadow models (never on these decisions)")
    if not 0 <= delta < 1 or not 0 < confidence < 1:
        raise ValueError(f"need 0 <= delta < 1 and 0 < confidence < 1, got delta={delta}, confidence={confidence}")
    alpha = (1 - confidence) / len(thresholds)
    best = EpsilonBound(0.0, None, delta, confidence, None, None)
    for t in thresholds:
        eps, fpr_hi, fnr_hi = _bound_at(s, y, float(t), delta, alpha)
        if best.threshold is None or eps > best.epsilon:
            best = EpsilonBound(eps, float(t), delta, confidence, fpr_hi, fnr_hi)
    return best
