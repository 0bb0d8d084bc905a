"""Aggregation shared by every view (table, site, frontier): seed means, intervals, ranking, strongest attack.

Views read records only, and all of them summarise seeds and rank attacks here, so a table, the site and
the frontier never disagree on which attack is strongest: the order is :data:`bench.metrics.RANKING`
(TPR@1%FPR, then AUC), declared once in the metric registry.

>>> rank_key({"tpr@1%fpr": 0.02, "auc": 0.6}) < rank_key({"tpr@1%fpr": 0.01, "auc": 0.9})
True
>>> [round(v, 4) for v in mean_std([0.1, 0.3])]
[0.2, 0.1414]
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from ._metric_specs import RANKING, metric_spec
from ._record import Record, finite_number

__all__ = ["RANKING", "CPU_TIERS", "mean", "mean_std", "mean_interval", "group_by", "rank_key", "rank_bands", "THREAT_MODEL_ORDER", "threat_model_key", "strongest", "seed_means",
           "within_tier", "cell_key", "defense_key", "params_text"]

T = TypeVar("T")
# Tiers whose device-seconds are measured on a CPU: records produced on another device are listed apart.
CPU_TIERS = ("smoke", "cpu")


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if finite_number(v)]


def mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite numbers among ``values`` (None, NaN and non-numbers are left out); None if none."""
    vals = _finite(values)
    return float(np.mean(vals)) if vals else None


def mean_std(values: Iterable[Any]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation over seeds (0.0 for a single seed; (None, None) for none)."""
    vals = _finite(values)
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def mean_interval(intervals: Iterable[Any]) -> list[float] | None:
    """The mean of per-seed ``[low, high]`` intervals, i.e. the typical single-seed interval."""
    cis = [c for c in intervals if isinstance(c, (list, tuple)) and len(c) == 2 and all(finite_number(x) for x in c)]
    if not cis:
        return None
    a = np.asarray(cis, float)
    return [float(a[:, 0].mean()), float(a[:, 1].mean())]


def group_by(items: Iterable[T], key: Callable[[T], Hashable]) -> dict[Hashable, list[T]]:
    """Items grouped by ``key``, groups and members in first-seen order."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def rank_key(row: Mapping[str, Any]) -> tuple[float, ...]:
    """Sort key putting the strongest attack first: by each :data:`RANKING` metric in turn, missing as weakest."""
    out = []
    for key in RANKING:
        v = row.get(key)
        v = -np.inf if v is None else float(v)
        out.append(-v if metric_spec(key).higher_is_better else v)
    return tuple(out)


# The order of a track's boards: the classification threat models by the access they assume, then the others.
THREAT_MODEL_ORDER = ("label", "scores", "whitebox", "timing", "embeddings")


def threat_model_key(threat_model: str) -> tuple[int, str]:
    """Sort key putting a track's boards (tables) in :data:`THREAT_MODEL_ORDER`, unknown ones last by name."""
    known = THREAT_MODEL_ORDER.index(threat_model) if threat_model in THREAT_MODEL_ORDER else len(THREAT_MODEL_ORDER)
    return known, threat_model


def rank_bands(rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """(best, worst) rank each row's interval of the lead :data:`RANKING` metric allows, for rows in rank order.

    Best: 1 + the rows whose interval lies wholly above this one's; worst: the rows whose interval reaches this one's
    (itself included). A row without an interval gets its own rank.

    >>> rank_bands([{"tpr@1%fpr_ci": [0.3, 0.4]}, {"tpr@1%fpr_ci": [0.1, 0.35]}, {"tpr@1%fpr_ci": [0.0, 0.05]}])
    [(1, 2), (1, 2), (3, 3)]
    """
    from bisect import bisect_left, bisect_right

    key = RANKING[0] + "_ci"
    cis = [row.get(key) for row in rows]
    lows, highs = sorted(ci[0] for ci in cis if ci), sorted(ci[1] for ci in cis if ci)  # sorted: n log n, not n² rows
    out = []
    for i, ci in enumerate(cis, 1):
        if not ci:
            out.append((i, i))
            continue
        above = len(lows) - bisect_right(lows, ci[1])  # intervals wholly above this one
        reach = len(highs) - bisect_left(highs, ci[0])  # intervals that reach it
        out.append((min(1 + above, i), max(reach, i)))  # a row's own place is always within its band
    return out


def strongest(rows: Sequence[T], metrics: Callable[[T], Mapping[str, Any]] = lambda r: r) -> T:  # type: ignore[assignment,return-value]
    """The strongest of ``rows`` by :func:`rank_key` (ties: the first)."""
    if not rows:
        raise ValueError("strongest() of no rows")
    return min(rows, key=lambda r: rank_key(metrics(r)))


def seed_means(records: Sequence[Record], keys: Iterable[str], with_ci: bool = False) -> dict[str, Any]:
    """Per metric key, the mean over the records' seeds (and ``<key>_ci``, the mean interval, if asked)."""
    out: dict[str, Any] = {}
    for key in keys:
        out[key] = mean(r.metrics.get(key) for r in records)
        if with_ci:
            out[key + "_ci"] = mean_interval(r.metrics.get(key + "_ci") for r in records)
    return out


def within_tier(record: Record) -> bool:
    """Ranked records: within their tier's limits (shadow models, device-seconds, queries per candidate), and CPU
    tiers measured on a CPU."""
    limits, used = record.budget.limits, record.budget.used
    caps = {"shadow_models": limits.get("max_shadows"), "device_seconds": limits.get("device_seconds")}
    per_candidate, candidates = limits.get("queries_per_candidate"), _candidates(record)
    if finite_number(per_candidate) and candidates:
        caps["queries"] = per_candidate * candidates
    for key, cap in caps.items():
        value = used.get(key, 0)
        if not finite_number(value) or (finite_number(cap) and value > cap):  # a limit's usage that is no number is no usage within it
            return False
    device = str(record.provenance.device or "")
    return not (record.budget.tier in CPU_TIERS and not device.startswith("cpu"))


def _candidates(record: Record) -> int | None:
    """Candidates per target, as the record states them (``submit`` checks them against the recomputed split): the
    pool of a pool-design cell, else its members and non-members."""
    if record.design and finite_number(record.design.get("pool")):
        return int(record.design["pool"])
    counts = [record.metrics.get(k) for k in ("n_members", "n_nonmembers")]
    return int(sum(counts)) if all(finite_number(c) for c in counts) else None


def cell_key(record: Record) -> tuple[str, str, str, str]:
    """(track, budget tier, defense, attack): what the tables average over seeds."""
    return (record.track.name, record.budget.tier, record.defense.name, record.attack.name)


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


def defense_key(record: Record) -> tuple[str, str, str, str]:
    """(track, budget tier, defense, its parameters): one defended target configuration."""
    return (record.track.name, record.budget.tier, record.defense.name, params_text(record.defense.params))
