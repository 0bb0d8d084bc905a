"""The figures the report and the site draw: log–log ROC overlays, score histograms, the privacy–utility frontier.

Every figure is matplotlib on the Agg backend (no display), written as PNG and, where asked, SVG beside it.
Labels never sit on the data: curves and points are named in a legend outside the axes, and each frontier
point has its own (colour, marker) pair, so coincident points (several defenses at TPR 0) stay readable.
ROC points follow the metric registry's definition: the TPR at FPR x is the largest TPR among ROC points
with FPR ≤ x (:func:`tpr_at`), so a curve and the table's ``tpr@x%fpr`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["Curve", "FrontierPoint", "tpr_at", "roc_band", "log_grid", "plot_roc", "plot_histograms", "plot_frontier", "pareto", "frontier_points"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


@dataclass(frozen=True)
class Curve:
    """One ROC curve on an FPR grid; ``low``/``high`` is its 95% band (None: no band)."""

    label: str
    fpr: Sequence[float]
    tpr: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None


@dataclass(frozen=True)
class FrontierPoint:
    """One defended target: accuracy (mean, sd over seeds) against attack success (mean, 95% interval)."""

    label: str
    accuracy: float
    accuracy_sd: float
    leak: float
    leak_ci: tuple[float, float] | None
    auc: float | None = None
    auc_ci: tuple[float, float] | None = None


def log_grid(n_negatives: int, points: int = 60) -> np.ndarray:
    """Log-spaced FPRs from the smallest one measurable (1 / non-members) to 1."""
    grid = np.logspace(np.log10(1.0 / max(n_negatives, 1)), 0.0, points)
    grid[0], grid[-1] = 1.0 / max(n_negatives, 1), 1.0  # exact ends: logspace's rounding would drop the first operating point
    return grid


def tpr_at(scores: np.ndarray, is_member: np.ndarray, fprs: np.ndarray) -> np.ndarray:
    """Largest TPR with FPR ≤ each of ``fprs`` ("member" when score ≥ threshold)."""
    pos, neg = scores[is_member], np.sort(scores[~is_member])[::-1]
    allowed = np.floor(np.asarray(fprs) * len(neg) + 1e-9).astype(int)  # false positives allowed at each FPR
    out = np.ones(len(allowed))
    inside = allowed < len(neg)
    # threshold just above the (k+1)-th largest non-member score: members strictly above it are caught
    cut = neg[allowed[inside]]
    out[inside] = (pos[None, :] > cut[:, None]).mean(axis=1)
    return out


def roc_band(scores: Any, is_member: Any, fprs: np.ndarray, n_boot: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TPR, 2.5% and 97.5% bootstrap percentiles) on ``fprs``; members and non-members resampled apart."""
    s, y = np.asarray(scores, float), np.asarray(is_member, bool)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    boots = np.empty((n_boot, len(fprs)))
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        boots[b] = tpr_at(s[idx], y[idx], fprs)
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    return tpr_at(s, y, fprs), lo, hi


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, stem: Path, svg: bool) -> list[str]:
    """Write ``stem.png`` (and ``stem.svg``) without timestamps; returns the file names written."""
    names = [stem.with_name(stem.name + ".png")] + ([stem.with_name(stem.name + ".svg")] if svg else [])  # not with_suffix: "eps-1.0" and "eps-1.5" would both become "eps-1.png"
    for p in names:
        fig.savefig(p, metadata={"Software": None} if p.suffix == ".png" else {"Date": None}, bbox_inches="tight")
    _plt().close(fig)
    return [p.name for p in names]


def plot_roc(curves: Sequence[Curve], title: str, stem: Path, svg: bool = True, floor: float | None = None) -> list[str]:
    """Every curve on one log–log ROC (bands shaded), the chance diagonal dotted, the legend beside the axes."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.6), dpi=100)
    lo = floor or min((min(c.fpr) for c in curves), default=1e-3)
    for i, c in enumerate(curves):
        color = _COLORS[i % len(_COLORS)]
        f, t = np.asarray(c.fpr), np.maximum(np.asarray(c.tpr), lo)
        ax.step(f, t, where="post", color=color, lw=1.6, label=_plain(c.label), linestyle="-" if i < len(_COLORS) else "--")
        if c.low is not None and c.high is not None:
            ax.fill_between(f, np.maximum(c.low, lo), np.maximum(c.high, lo), step="post", color=color, alpha=0.15, lw=0)
    ax.plot([lo, 1], [lo, 1], ls=":", color="gray", lw=1, label="chance")
    ax.set(xscale="log", yscale="log", xlim=(lo, 1), ylim=(lo, 1.02), xlabel="false-positive rate", ylabel="true-positive rate")
    ax.set_title(_plain(title), fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return _save(fig, stem, svg)


def plot_histograms(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str, stem: Path, svg: bool = True) -> list[str]:
    """Per attack, its scores on members and non-members (shared bins, densities)."""
    plt = _plt()
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), dpi=100, squeeze=False)
    for ax, (label, scores, member) in zip(axes.flat, panels):
        s, m = np.asarray(scores, float), np.asarray(member, bool)
        lo, hi = np.percentile(s, [0.5, 99.5])  # a few extreme scores (a loss of -30) would squeeze the rest into one bin
        bins = np.linspace(lo, hi, 41) if hi > lo else np.histogram_bin_edges(s, bins=40)
        s = np.clip(s, bins[0], bins[-1])
        ax.hist(s[~m], bins=bins, density=True, alpha=0.55, color=_COLORS[0], label="non-members")
        ax.hist(s[m], bins=bins, density=True, alpha=0.55, color=_COLORS[1], label="members")
        ax.set_title(_plain(label), fontsize=10)
        ax.set_xlabel("attack score (higher: member)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle(_plain(title), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.86 if rows == 1 else 0.92))
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.925 if rows == 1 else 0.965), ncol=2, fontsize=8, frameon=False)
    return _save(fig, stem, svg)


def pareto(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other beats on both leakage (lower x) and accuracy (higher y), by increasing x."""
    return sorted({p for p in points if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points)})


def _short(label: str, width: int = 70) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _frontier_panel(ax: Any, points: Sequence[FrontierPoint], use_auc: bool, floor: float) -> None:
    xs, ys = [], []
    for i, p in enumerate(points):
        x, ci = (p.auc, p.auc_ci) if use_auc else (max(p.leak, floor), p.leak_ci)
        if x is None:
            continue
        err = None
        if ci is not None:
            lo, hi = (ci[0], ci[1]) if use_auc else (max(ci[0], floor), max(ci[1], floor))
            err = [[max(x - lo, 0.0)], [max(hi - x, 0.0)]]
        ax.errorbar([x], [100 * p.accuracy], xerr=err, yerr=[100 * p.accuracy_sd], fmt=_MARKERS[(i // len(_COLORS)) % len(_MARKERS)],
                    color=_COLORS[i % len(_COLORS)], ms=7, capsize=2, elinewidth=0.8, label=_plain(p.label), alpha=0.9)
        xs.append(x)
        ys.append(100 * p.accuracy)
    front = pareto(list(zip(xs, ys)))
    if len(front) > 1:  # a staircase: the best accuracy reachable at each leakage
        ax.step([q[0] for q in front], [q[1] for q in front], where="post", color="black", lw=1, ls="--", label="Pareto front", zorder=1)


def plot_frontier(points: Sequence[FrontierPoint], leak_title: str, title: str, stem: Path, svg: bool = True, floor: float = 1e-4,
                  chance: float | None = None) -> list[str]:
    """Test accuracy against attack success (log TPR panel and AUC panel), error bars, Pareto staircase, side legend.

    ``chance``: the leak metric of a guessing attack, drawn dotted (TPR@x%FPR: x)."""
    plt = _plt()
    fig, (ax_tpr, ax_auc) = plt.subplots(1, 2, figsize=(10.5, 4.2), dpi=100, sharey=True)
    _frontier_panel(ax_tpr, points, False, floor)
    _frontier_panel(ax_auc, points, True, floor)
    ax_tpr.set_xscale("log")
    if chance:
        ax_tpr.axvline(chance, color="grey", ls=":", lw=1)
    ax_tpr.set_xlabel(f"strongest attack's {leak_title} (log; 0 drawn at {floor:g}{'; dotted: chance' if chance else ''})", fontsize=9)
    ax_auc.axvline(0.5, color="grey", ls=":", lw=1)
    ax_auc.set_xlabel("strongest attack's AUC (dotted: chance)", fontsize=9)
    ax_tpr.set_ylabel("target test accuracy (%)")
    for ax in (ax_tpr, ax_auc):
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax_tpr.get_legend_handles_labels()
    fig.suptitle(_plain(title), fontsize=11)
    fig.tight_layout()
    fig.legend(handles, [_short(t) for t in labels], loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    return _save(fig, stem, svg)


def frontier_points(records: Sequence[Any]) -> list[FrontierPoint]:
    """One point per defended target of ``records`` (one track and tier): its strongest attack (the ranking every
    view uses, :func:`bench.frontier.frontier_rows`), the metric's mean interval, the accuracy's sd over seeds."""
    from . import aggregate as agg
    from ._metric_specs import RANKING
    from .frontier import frontier_rows

    lead = RANKING[0]
    out = []
    for row in frontier_rows(records):
        if row["test_accuracy"] is None:
            continue
        params = agg.params_text(row["params"])
        recs = [r for r in records if r.ok and r.attack.name == row["attack"] and agg.defense_key(r)[2:] == (row["defense"], params)]
        _, sd = agg.mean_std(r.utility.test_accuracy for r in recs)
        ci, auc_ci = (agg.mean_interval(r.metrics.get(k + "_ci") for r in recs) for k in (lead, "auc"))
        name = row["defense"] + (f" ({params})" if params else "")
        out.append(FrontierPoint(label=f"{name} — {row['attack']}", accuracy=row["test_accuracy"], accuracy_sd=sd or 0.0,
                                 leak=row[lead] or 0.0, leak_ci=tuple(ci) if ci else None, auc=row["auc"],
                                 auc_ci=tuple(auc_ci) if auc_ci else None))
    return out


def _plain(text: str) -> str:
    """A label as text: a '$' would start matplotlib's mathtext, and a published option such as "$\\undefined{$" stopped
    the site's build (adversarial review)."""
    return str(text).replace("$", r"\$")
