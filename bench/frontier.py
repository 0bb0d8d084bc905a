"""The privacy–utility frontier: each defended target's test accuracy against the attacks' success on it.

One point per (track, budget, defense and its parameters): its test accuracy (utility) and the TPR@0.1%FPR,
TPR@1%FPR and AUC of one attack (``attack=``) or, by default, of the strongest attack against it
(:func:`bench.aggregate.strongest`, the ranking every view uses), averaged over seeds. ``plot`` draws the
points with matplotlib (Agg backend; no display needed); the site draws its frontier images with it too.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from . import aggregate as agg
from ._metric_specs import HEADLINE, RANKING, metric_spec
from ._record import Record

__all__ = ["frontier_rows", "render_table", "plot", "TPR_FLOOR"]

# TPR 0 cannot sit on a log axis: such points are drawn at this floor (and the table says 0).
TPR_FLOOR = 1e-4


def frontier_rows(records: Iterable[Record], attack: str | None = None) -> list[dict[str, Any]]:
    """Frontier points from result records (``ok`` cells with membership metrics only)."""
    usable = [r for r in records if r.ok and "auc" in r.metrics and (attack is None or r.attack.name == attack)]
    rows = []
    for (track, budget, defense, _), recs in agg.group_by(usable, agg.defense_key).items():
        per_attack = [(name, agg.seed_means(rs, HEADLINE), rs) for name, rs in agg.group_by(recs, lambda r: r.attack.name).items()]
        name, means, best = agg.strongest(per_attack, lambda t: t[1])
        epsilons = [r.defense.report.get("epsilon") for r in best]
        rows.append({
            "track": track, "budget": budget, "defense": defense, "params": dict(best[0].defense.params), "attack": name,
            "seeds": len(best),
            "train_accuracy": agg.mean(r.utility.train_accuracy for r in best),
            "test_accuracy": agg.mean(r.utility.test_accuracy for r in best),
            **means,
            "epsilon": agg.mean(epsilons) if any(e is not None for e in epsilons) else None,
        })
    return sorted(rows, key=lambda r: (r["track"], r["budget"], -(r["test_accuracy"] or 0.0)))


def render_table(rows: list[dict[str, Any]], fmt: str = "md") -> str:
    """The frontier as a table: ``md`` or ``json``."""
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True)
    from tabulate import tabulate

    shown = ("test_accuracy", "train_accuracy", *HEADLINE)
    table = [
        {
            "track": r["track"], "budget": r["budget"], "defense": r["defense"], "attack": r["attack"], "seeds": r["seeds"],
            **{metric_spec(k).title: metric_spec(k).format(r[k]) for k in shown},
            "ε": "" if r["epsilon"] is None else f"{r['epsilon']:.2f}",
            "params": agg.params_text(r["params"]),
        }
        for r in rows
    ]
    return tabulate(table, headers="keys", tablefmt="github")


def _pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points that no other beats on both leakage (lower x) and accuracy (higher y), by increasing x."""
    return sorted(p for p in points if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points))


def _panel(ax: Any, rows: list[dict[str, Any]], metric: str, color: str, label: str) -> None:
    """One group's points on one axis (TPR metrics on a log axis, floored), the Pareto front dashed."""
    is_rate = metric_spec(metric).kind == "rate"
    xs = [max(r[metric] or 0.0, TPR_FLOOR) if is_rate else (r[metric] if r[metric] is not None else 0.5) for r in rows]
    ys = [100 * r["test_accuracy"] for r in rows]
    ax.scatter(xs, ys, color=color, label=label, zorder=3)
    for x, y, r in zip(xs, ys, rows):  # labelled by name: the parameters are in the table, long labels cover the plot
        ax.annotate(r["defense"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    front = _pareto(list(zip(xs, ys)))
    if len(front) > 1:
        ax.plot([p[0] for p in front], [p[1] for p in front], color=color, lw=1, ls="--", alpha=0.6)


def plot(rows: list[dict[str, Any]], out: str, title: str | None = None) -> str:
    """Test accuracy against the ranking metric (log x) and AUC, a labelled point per defense; writes ``out`` (.png/.svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("no frontier points: the records hold no ok membership cells (for that attack)")
    lead = RANKING[0]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for gi, group in enumerate(sorted({(r["track"], r["budget"]) for r in rows})):
        pts = [r for r in rows if (r["track"], r["budget"]) == group and r["test_accuracy"] is not None]
        for ax, metric in zip(axes, (lead, "auc")):
            _panel(ax, pts, metric, colors[gi % len(colors)], f"{group[0]} ({group[1]})")
    ax_tpr, ax_auc = axes
    ax_tpr.set_xscale("log")
    if metric_spec(lead).chance:
        ax_tpr.axvline(metric_spec(lead).chance, color="grey", linestyle=":", linewidth=1)  # chance: TPR = FPR
    ax_tpr.set_xlabel(f"attack {metric_spec(lead).title} (log; 0 drawn at {TPR_FLOOR:g}; dotted: chance; dashed: frontier)")
    ax_auc.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax_auc.set_xlabel("attack AUC (dotted: chance)")
    attacks = sorted({r["attack"] for r in rows})
    for ax in axes:
        ax.set_ylabel("target test accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
    ax_tpr.legend(loc="lower right", fontsize=8)
    fig.suptitle(title or f"privacy–utility frontier (attack: {', '.join(attacks) if len(attacks) <= 3 else 'strongest per defense'})")
    fig.savefig(out, metadata={"Software": None} if str(out).endswith(".png") else None)
    plt.close(fig)
    return out
