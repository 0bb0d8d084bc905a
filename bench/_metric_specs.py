"""The metric registry: every metric a record holds, with its direction, interval key, kind and format.

The table, the site, the frontier and publishing read it (through :mod:`bench.metrics`, which re-exports it);
``RANKING`` is the one order in which every view ranks attacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["MetricSpec", "METRICS", "UTILITY", "RANKING", "MEMBERSHIP_COLUMNS", "HEADLINE", "metric_spec", "is_metric_column"]


@dataclass(frozen=True)
class MetricSpec:
    """A record's metric: its direction, interval key, kind and how the views show it.

    ``kind``: ``rate`` (a proportion, shown in percent), ``score`` (shown with 3 decimals) or ``count``
    (shown as an integer). ``column``: False for bookkeeping (``n_members``) that tables never show.
    """

    name: str
    higher_is_better: bool
    description: str
    ci_key: Optional[str] = None  # key of the matching [low, high] interval, if any
    label: Optional[str] = None  # column title (default: the name)
    kind: str = "score"
    column: bool = True
    chance: Optional[float] = None  # what an attack that guesses scores (the figures' dotted line): TPR@x%FPR is x

    @property
    def title(self) -> str:
        return self.label or self.name

    def format(self, value: Optional[float], ci: Optional[Any] = None, std: Optional[float] = None) -> str:
        """``value`` for a table: ``12.30%`` / ``0.750`` / ``48``, with ``[low, high]`` or ``± std`` if given.

        None is a dash; a count is an integer, with its spread only where seeds disagree.
        """
        if value is None:
            return "—"
        if self.kind == "count":
            return f"{value:.0f}" if not std else f"{value:.1f} ± {std:.1f}"
        pct = self.kind == "rate"
        num = (lambda v: f"{100 * v:.2f}") if pct else (lambda v: f"{v:.3f}")
        text = num(value) + ("%" if pct else "")
        if ci is not None:
            text += f" [{num(ci[0])}, {num(ci[1])}]"
        if std is not None:
            text += f" ± {num(std)}"
        return text


METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("auc", True, "Area under the ROC curve (rank / Mann-Whitney estimate).", "auc_ci", "AUC", chance=0.5),
        MetricSpec("tpr@0.1%fpr", True, "Largest TPR among ROC points with FPR <= 0.1%.", "tpr@0.1%fpr_ci", "TPR@0.1%FPR", "rate", chance=1e-3),
        MetricSpec("tpr@1%fpr", True, "Largest TPR among ROC points with FPR <= 1%.", "tpr@1%fpr_ci", "TPR@1%FPR", "rate", chance=1e-2),
        MetricSpec("balanced_accuracy", True, "(TPR + TNR) / 2 at a threshold fixed beforehand: the harness's 5 % operating point on pool-design tracks, else the attack's shadow-calibrated one.", None, "bal. acc"),
        MetricSpec("advantage", True, "Membership advantage max(TPR - FPR) over ROC points (Yeom et al.)."),
        MetricSpec("n_members", True, "Members among the candidates.", kind="count", column=False),
        MetricSpec("n_nonmembers", True, "Non-members among the candidates.", kind="count", column=False),
    )
}
# Pool-design cells only (``bench._pool_cell``): the empirical ε lower bound at the harness's operating points.
EPSILON_LB = MetricSpec("epsilon_lb", True, "Empirical ε lower bound at 95 % from Clopper–Pearson FPR/FNR bounds at the harness's operating points (Jagielski et al. 2020).", None, "ε lb")
# The target's utility, shown beside the attack metrics.
UTILITY: dict[str, MetricSpec] = {
    "test_accuracy": MetricSpec("test_accuracy", True, "Target accuracy on held-out data.", label="test acc", kind="rate"),
    "train_accuracy": MetricSpec("train_accuracy", True, "Target accuracy on its training data.", label="train acc", kind="rate"),
}
# How every view ranks attacks (strongest first) and picks the strongest attack against a defense. A TPR at a fixed
# low FPR reads what AUC averages away (Carlini et al. 2022); 1 % rather than 0.1 % because of the false positives it
# rests on: digits cpu pools 8 targets x 500 = 4,000 non-members, so TPR@0.1%FPR is read at 4 false positives and
# TPR@1%FPR at 40. On the digits cpu scores board (official, 2 seeds) 29 % of row pairs have disjoint 95 % intervals
# by TPR@1%FPR against 19 % by TPR@0.1%FPR; neighbouring rows rarely separate under any metric, so the boards show
# the ranks each row's interval allows (:func:`bench.aggregate.rank_bands`).
RANKING: tuple[str, ...] = ("tpr@1%fpr", "auc")
# What the membership tables show, in order.
MEMBERSHIP_COLUMNS: tuple[str, ...] = ("auc", "tpr@0.1%fpr", "tpr@1%fpr", "balanced_accuracy", "advantage")
# What every published membership record must hold, and what the site, the frontier and the per-defense view show.
HEADLINE: tuple[str, ...] = ("auc", "tpr@0.1%fpr", "tpr@1%fpr")


def metric_spec(key: str) -> MetricSpec:
    """The registered spec of ``key``; a task's own metric gets one by convention.

    ``fpr_<set>`` (scenario false-positive rates, Clopper–Pearson ``_ci``) are rates where lower is better;
    ``n_<things>`` are counts (shown as integers); anything else is a higher-is-better score without an interval.
    """
    if key in METRICS:
        return METRICS[key]
    if key in UTILITY:
        return UTILITY[key]
    if key == "epsilon_lb":
        return EPSILON_LB
    if key.startswith("fpr"):
        return MetricSpec(key, False, "False-positive rate at the harness's threshold calibrated on shadow models (5 % nominal unless the key names the level).", key + "_ci", kind="rate")
    if key.startswith("tpr"):
        return MetricSpec(key, True, "True-positive rate.", key + "_ci", kind="rate")
    if key.startswith("n_"):
        return MetricSpec(key, True, "A count reported by the attack.", kind="count")
    return MetricSpec(key, True, "A task metric reported by the attack.")


def is_metric_column(key: str, value: Any) -> bool:
    """Whether a record's ``metrics[key]`` is a value the views show (not an interval, bookkeeping or non-number)."""
    return (not key.endswith("_ci") and isinstance(value, (int, float)) and not isinstance(value, bool)
            and metric_spec(key).column)
