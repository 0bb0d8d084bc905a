"""The privacy–utility frontier: each defended target's test accuracy against the attacks' success on it.

One point per (track, budget, defense): its test accuracy (utility) and the TPR@0.1%FPR, TPR@1%FPR and AUC of
one attack (``attack=``) or, by default, of the strongest attack against it (highest TPR@0.1%FPR, then AUC),
averaged over seeds. ``plot`` draws the points with matplotlib (Agg backend; no display needed).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np

__all__ = ["frontier_rows", "render_table", "plot", "TPR_FLOOR"]

# TPR 0 cannot sit on a log axis: such points are drawn at this floor (and the table says 0).
TPR_FLOOR = 1e-4
_METRICS = ("tpr@0.1%fpr", "tpr@1%fpr", "auc")


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def frontier_rows(records: Iterable[dict[str, Any]], attack: str | None = None) -> list[dict[str, Any]]:
    """Frontier points from result records (``ok`` cells with membership metrics only)."""
    cells: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in records:
        if r.get("status") != "ok" or "auc" not in r.get("metrics", {}):
            continue
        if attack is not None and r["attack"]["name"] != attack:
            continue
        key = (r["track"]["name"], r["budget"]["tier"], r["defense"]["name"])
        cells.setdefault(key, {}).setdefault(r["attack"]["name"], []).append(r)
    rows = []
    for (track, budget, defense), by_attack in cells.items():
        per_attack = []
        for name, recs in by_attack.items():
            m = {k: _mean(r["metrics"].get(k) for r in recs) for k in _METRICS}
            per_attack.append((name, m, recs))
        name, m, recs = max(per_attack, key=lambda t: (t[1]["tpr@0.1%fpr"] or 0.0, t[1]["auc"] or 0.0))
        report = recs[0]["defense"].get("report") or {}
        rows.append({
            "track": track,
            "budget": budget,
            "defense": defense,
            "params": recs[0]["defense"].get("params") or {},
            "attack": name,
            "seeds": len(recs),
            "train_accuracy": _mean(r.get("utility", {}).get("train_accuracy") for r in recs),
            "test_accuracy": _mean(r.get("utility", {}).get("test_accuracy") for r in recs),
            **m,
            "epsilon": _mean(r["defense"].get("report", {}).get("epsilon") for r in recs) if "epsilon" in report else None,
        })
    return sorted(rows, key=lambda r: (r["track"], r["budget"], -(r["test_accuracy"] or 0.0)))


def render_table(rows: list[dict[str, Any]], fmt: str = "md") -> str:
    """The frontier as a table: ``md`` or ``json``."""
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True)
    from tabulate import tabulate

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.2f}%"

    table = [
        {
            "track": r["track"], "budget": r["budget"], "defense": r["defense"], "attack": r["attack"], "seeds": r["seeds"],
            "test acc": pct(r["test_accuracy"]), "train acc": pct(r["train_accuracy"]),
            "TPR@0.1%FPR": pct(r["tpr@0.1%fpr"]), "TPR@1%FPR": pct(r["tpr@1%fpr"]),
            "AUC": "—" if r["auc"] is None else f"{r['auc']:.3f}",
            "ε": "" if r["epsilon"] is None else f"{r['epsilon']:.2f}",
            "params": ", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())),
        }
        for r in rows
    ]
    return tabulate(table, headers="keys", tablefmt="github")


def plot(rows: list[dict[str, Any]], out: str, title: str | None = None) -> str:
    """Draw test accuracy against TPR@0.1%FPR (log x) and AUC, one labelled point per defense; write ``out`` (.png/.svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("no frontier points: the records hold no ok membership cells (for that attack)")
    groups = sorted({(r["track"], r["budget"]) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for gi, group in enumerate(groups):
        pts = [r for r in rows if (r["track"], r["budget"]) == group and r["test_accuracy"] is not None]
        color = colors[gi % len(colors)]
        for ax, metric in zip(axes, ("tpr@0.1%fpr", "auc")):
            xs = [max(r[metric] or 0.0, TPR_FLOOR) if metric.startswith("tpr") else (r[metric] or 0.5) for r in pts]
            ys = [100 * r["test_accuracy"] for r in pts]
            ax.scatter(xs, ys, color=color, label=f"{group[0]} ({group[1]})", zorder=3)
            for x, y, r in zip(xs, ys, pts):
                ax.annotate(r["defense"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax_tpr, ax_auc = axes
    ax_tpr.set_xscale("log")
    ax_tpr.axvline(1e-3, color="grey", linestyle=":", linewidth=1)  # chance: TPR = FPR
    ax_tpr.set_xlabel(f"attack TPR @ 0.1% FPR (log; 0 drawn at {TPR_FLOOR:g}; dotted: chance)")
    ax_auc.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax_auc.set_xlabel("attack AUC (dotted: chance)")
    attacks = sorted({r["attack"] for r in rows})
    for ax in axes:
        ax.set_ylabel("target test accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
    ax_tpr.legend(loc="lower right", fontsize=8)
    fig.suptitle(title or f"privacy–utility frontier (attack: {', '.join(attacks) if len(attacks) <= 3 else 'strongest per defense'})")
    fig.savefig(out)
    plt.close(fig)
    return out
