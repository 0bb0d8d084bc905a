"""Membership-inference evaluation metrics.

All functions take ``scores`` (higher = "more likely a member") and a boolean
``is_member`` ground-truth vector. Only numpy is imported at module load;
scipy and scikit-learn are imported lazily inside the functions that need them.

Conventions
-----------
* ROC points come from :func:`sklearn.metrics.roc_curve` with
  ``drop_intermediate=False`` so that low-FPR operating points are never lost.
* ``TPR@x%FPR`` is the *largest* TPR among ROC points whose FPR is ``<= x``.
* Confidence intervals for TPRs (and FPRs, see :func:`fpr_at_threshold`) are
  exact Clopper--Pearson binomial intervals; the AUC interval is a stratified
  bootstrap (members and non-members resampled separately).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._metric_specs import HEADLINE, MEMBERSHIP_COLUMNS, METRICS, RANKING, UTILITY, MetricSpec, is_metric_column, metric_spec

__all__ = [
    "MetricSpec",
    "METRICS",
    "UTILITY",
    "RANKING",
    "MEMBERSHIP_COLUMNS",
    "HEADLINE",
    "metric_spec",
    "is_metric_column",
    "roc",
    "tpr_at_fpr",
    "clopper_pearson",
    "auc",
    "auc_bootstrap_ci",
    "balanced_accuracy_at",
    "advantage",
    "youden_threshold",
    "fpr_at_threshold",
    "membership_metrics",
]


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def _validate(scores: Any, is_member: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(scores as float64, is_member as bool)`` or raise ``ValueError``."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_member)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if y.ndim != 1:
        raise ValueError(f"is_member must be 1-D, got shape {y.shape}")
    if s.shape[0] != y.shape[0]:
        raise ValueError(
            f"length mismatch: scores has {s.shape[0]} entries, is_member has {y.shape[0]}"
        )
    if not np.all(np.isfinite(s)):
        bad = int(np.count_nonzero(~np.isfinite(s)))
        raise ValueError(f"scores contain {bad} non-finite value(s) (NaN or inf)")
    if y.dtype != np.bool_:
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError("is_member must be boolean or contain only 0/1 labels")
        y = y.astype(bool)
    n1 = int(np.count_nonzero(y))
    if n1 == 0 or n1 == y.shape[0]:
        which = "members" if n1 == 0 else "non-members"
        raise ValueError(f"is_member must contain both classes (no {which} given)")
    return s, y


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


# --------------------------------------------------------------------------- #
# ROC-based metrics
# --------------------------------------------------------------------------- #
def roc(scores: Any, is_member: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)`` keeping every operating point.

    A sample is predicted "member" when ``score >= threshold``. Raises
    ``ValueError`` for non-1-D input, length mismatch, non-finite scores or a
    single class.
    """
    from sklearn.metrics import roc_curve

    s, y = _validate(scores, is_member)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thr


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """Largest TPR among ROC points with ``fpr <= max_fpr`` (0.0 if there are none)."""
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.shape != tpr.shape:
        raise ValueError(f"length mismatch: fpr {fpr.shape} vs tpr {tpr.shape}")
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if np.any(ok) else 0.0


def advantage(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Membership advantage ``max(TPR - FPR)`` over ROC points (Yeom et al., 2018)."""
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.shape != tpr.shape or fpr.size == 0:
        raise ValueError(f"fpr and tpr must be non-empty and equal length, got {fpr.shape}, {tpr.shape}")
    return float(np.max(tpr - fpr))


def youden_threshold(scores: Any, is_member: Any) -> float:
    """Threshold maximising ``TPR - FPR`` (Youden's J); ties -> highest threshold.

    Intended for calibrating an attack on SHADOW models whose membership is
    known to the attacker. It must NEVER be fitted on the target model's
    ground truth: doing so leaks the labels being evaluated and inflates
    threshold-dependent metrics such as balanced accuracy.
    """
    fpr, tpr, thr = roc(scores, is_member)
    finite = np.isfinite(thr)
    j = np.where(finite, tpr - fpr, -np.inf)
    return float(thr[int(np.argmax(j))])


def balanced_accuracy_at(scores: Any, is_member: Any, threshold: float) -> float:
    """``(TPR + TNR) / 2`` when predicting "member" for ``score >= threshold``."""
    s, y = _validate(scores, is_member)
    pred = s >= threshold
    tpr = np.count_nonzero(pred & y) / np.count_nonzero(y)
    tnr = np.count_nonzero(~pred & ~y) / np.count_nonzero(~y)
    return float((tpr + tnr) / 2.0)


def fpr_at_threshold(scores_of_nonmembers: Any, threshold: float) -> float:
    """Fraction of non-member scores ``>= threshold`` (e.g. for OOD / neighbour sets).

    For an exact 95% interval, pair it with :func:`clopper_pearson`::

        k = int(np.count_nonzero(np.asarray(s) >= threshold))
        low, high = clopper_pearson(k, len(s))
    """
    s = np.asarray(scores_of_nonmembers, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores_of_nonmembers must be 1-D, got shape {s.shape}")
    if s.size == 0:
        raise ValueError("scores_of_nonmembers is empty")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores_of_nonmembers contain non-finite values (NaN or inf)")
    return float(np.count_nonzero(s >= threshold) / s.size)


# --------------------------------------------------------------------------- #
# Intervals
# --------------------------------------------------------------------------- #
def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper--Pearson) ``1 - alpha`` interval for a binomial proportion ``k / n``."""
    from scipy.stats import beta

    k, n = int(k), int(n)
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    _check_alpha(alpha)
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2.0, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1.0 - alpha / 2.0, k + 1, n - k))
    return low, high


def auc(scores: Any, is_member: Any) -> float:
    """ROC AUC via the Mann--Whitney rank statistic (ties get average ranks)."""
    from scipy.stats import rankdata

    s, y = _validate(scores, is_member)
    n1 = int(np.count_nonzero(y))
    n0 = y.size - n1
    r = rankdata(s, method="average")
    return float((r[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def auc_bootstrap_ci(
    scores: Any,
    is_member: Any,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI for the AUC from a stratified bootstrap.

    Members and non-members are resampled separately (class sizes fixed). Each
    replicate's AUC is computed exactly (ties count 1/2) in O(n) from
    cumulative counts of resampled non-members over their sorted scores, fully
    vectorised over replicates.
    """
    s, y = _validate(scores, is_member)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    _check_alpha(alpha)
    rng = np.random.default_rng(seed)
    neg = np.sort(s[~y])
    pos = s[y]
    n0, n1 = neg.size, pos.size
    # for each member: #non-members strictly below, and #below-or-equal (as sorted positions)
    lo_pos = np.searchsorted(neg, pos, side="left")
    hi_pos = np.searchsorted(neg, pos, side="right")

    aucs = np.empty(n_boot, dtype=np.float64)
    chunk = max(1, int(2e7 // (n0 + n1 + 1)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx0 = rng.integers(0, n0, size=(b, n0))
        idx1 = rng.integers(0, n1, size=(b, n1))
        counts = np.bincount(
            (idx0 + (np.arange(b) * n0)[:, None]).ravel(), minlength=b * n0
        ).reshape(b, n0)
        cum = np.zeros((b, n0 + 1), dtype=np.int64)
        np.cumsum(counts, axis=1, out=cum[:, 1:])
        lo = np.take_along_axis(cum, lo_pos[idx1], axis=1)
        hi = np.take_along_axis(cum, hi_pos[idx1], axis=1)
        aucs[start : start + b] = (lo.sum(axis=1) + 0.5 * (hi - lo).sum(axis=1)) / (n0 * n1)
    q = np.quantile(aucs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(q[0]), float(q[1])


# --------------------------------------------------------------------------- #
# Summary
# --------------------------------------------------------------------------- #
def membership_metrics(
    scores: Any,
    is_member: Any,
    *,
    threshold: Optional[float] = None,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """All standard membership-inference metrics as plain Python values.

    ``threshold`` (for ``balanced_accuracy``) must be chosen without the target
    labels, e.g. with :func:`youden_threshold` on shadow models; if ``None``,
    ``balanced_accuracy`` is ``None``. ``n_boot=0`` skips the bootstrap and
    sets ``auc_ci`` to ``None``. TPR intervals are Clopper--Pearson on
    ``k = round(tpr * n_members)`` of ``n_members``.

    >>> m = membership_metrics([0.1, 0.2, 0.3, 0.8, 0.9, 1.0],
    ...                        [0, 0, 0, 1, 1, 1], threshold=0.5, n_boot=0)
    >>> m["auc"], m["tpr@1%fpr"], m["advantage"], m["balanced_accuracy"]
    (1.0, 1.0, 1.0, 1.0)
    >>> m["auc_ci"] is None, m["n_members"], m["n_nonmembers"]
    (True, 3, 3)
    >>> [round(v, 3) for v in m["tpr@1%fpr_ci"]]
    [0.292, 1.0]
    """
    s, y = _validate(scores, is_member)
    n1 = int(np.count_nonzero(y))
    n0 = int(y.size - n1)
    fpr, tpr, _ = roc(s, y)

    out: dict[str, Any] = {"auc": auc(s, y)}
    out["auc_ci"] = list(auc_bootstrap_ci(s, y, n_boot=n_boot, seed=seed)) if n_boot > 0 else None
    for key, x in (("tpr@0.1%fpr", 0.001), ("tpr@1%fpr", 0.01)):
        t = tpr_at_fpr(fpr, tpr, x)
        out[key] = t
        out[key + "_ci"] = list(clopper_pearson(int(round(t * n1)), n1))
    out["advantage"] = advantage(fpr, tpr)
    out["balanced_accuracy"] = (
        None if threshold is None else balanced_accuracy_at(s, y, float(threshold))
    )
    out["n_members"] = n1
    out["n_nonmembers"] = n0
    return out
