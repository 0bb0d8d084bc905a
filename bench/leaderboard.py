"""Leaderboard tables from result records: mean ± std over seeds, sorted by TPR@0.1%FPR.

>>> rec = {"track": {"name": "t"}, "budget": {"tier": "smoke", "used": {}}, "defense": {"name": "none"},
...        "attack": {"name": "a"}, "seed": 0, "status": "ok", "utility": {"test_accuracy": 0.9},
...        "metrics": {"auc": 0.75, "tpr@0.1%fpr": 0.01, "tpr@1%fpr": 0.05, "advantage": 0.4}}
>>> print(render([rec], "csv").splitlines()[1])
t,smoke,none,a,1,0.75,0.0,0.01,0.0,0.05,0.0,,,0.4,0.0,0.9,0.0,
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np

__all__ = ["summarize", "render", "by_defense", "render_by_defense", "FORMATS", "COLUMNS"]

FORMATS = ("md", "csv", "json", "html")
# metric key -> column title; extra task metrics are appended as found
COLUMNS = {
    "auc": "AUC",
    "tpr@0.1%fpr": "TPR@0.1%FPR",
    "tpr@1%fpr": "TPR@1%FPR",
    "balanced_accuracy": "bal. acc",
    "advantage": "advantage",
}
_GROUP = ("track", "budget", "defense", "attack")
_SKIP = {"n_members", "n_nonmembers"}


def _group_key(r: dict[str, Any]) -> tuple[str, ...]:
    return (r["track"]["name"], r["budget"]["tier"], r["defense"]["name"], r["attack"]["name"])


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def summarize(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (track, budget, defense, attack) over its seeds; failed cells are counted, not averaged."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(_group_key(r), []).append(r)
    rows = []
    for key, recs in groups.items():
        ok = [r for r in recs if r.get("status") == "ok"]
        row: dict[str, Any] = dict(zip(_GROUP, key))
        row["seeds"] = len(ok)
        row["task"] = recs[0]["track"].get("task", "classification")
        # Integrity tasks report their own metrics only; membership tasks keep the standard columns first.
        metric_keys = (list(COLUMNS) if row["task"] != "integrity" else []) + sorted(
            {k for r in ok for k, v in r["metrics"].items() if k not in COLUMNS and k not in _SKIP and not k.endswith("_ci") and isinstance(v, (int, float))}
        )
        for k in metric_keys:
            row[k], row[k + "_std"] = _mean_std([r["metrics"].get(k) for r in ok])
        row["test_accuracy"], row["test_accuracy_std"] = _mean_std([r.get("utility", {}).get("test_accuracy") for r in ok])
        bad = [r["status"] for r in recs if r.get("status") != "ok"]
        row["not_ok"] = ", ".join(f"{s}×{bad.count(s)}" for s in sorted(set(bad))) if bad else ""
        rows.append(row)

    def sort_key(row: dict[str, Any]) -> tuple:
        v = row.get("tpr@0.1%fpr")
        return (row["track"], row["budget"], -(v if v is not None else -1.0), -(row.get("auc") or 0.0))

    return sorted(rows, key=sort_key)


def _fmt(mean: float | None, std: float | None, pct: bool) -> str:
    if mean is None:
        return "—"
    if pct:
        return f"{100 * mean:.2f}% ± {100 * (std or 0):.2f}"
    return f"{mean:.3f} ± {std or 0:.3f}"


def render(records: Iterable[dict[str, Any]], fmt: str = "md") -> str:
    """Render records as a table: ``md`` (GitHub markdown), ``csv``, ``json`` or ``html`` (a sortable page)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; choose one of {', '.join(FORMATS)}")
    records = list(records)
    if fmt == "html":
        from .site import render_html, rows_from_records

        return render_html(rows_from_records((r, {}) for r in records))
    rows = summarize(records)
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True)
    import pandas as pd

    if fmt == "md" and len({r["task"] for r in rows}) > 1:  # one table per task, each with its own metrics
        tasks = list(dict.fromkeys(r["task"] for r in rows))
        return "\n\n".join(f"task: {t}\n\n" + render([rec for rec in records if rec["track"].get("task", "classification") == t], fmt) for t in tasks)
    metric_keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in _GROUP and not k.endswith("_std") and k not in ("seeds", "not_ok", "test_accuracy", "task")]
    if fmt == "csv":
        cols = list(_GROUP) + ["seeds"] + [c for k in metric_keys + ["test_accuracy"] for c in (k, k + "_std")] + ["not_ok"]
        return pd.DataFrame(rows, columns=cols).to_csv(index=False).rstrip("\n")
    from tabulate import tabulate

    table = []
    for r in rows:
        line = {"track": r["track"], "budget": r["budget"], "defense": r["defense"], "attack": r["attack"], "seeds": r["seeds"]}
        for k in metric_keys:
            line[COLUMNS.get(k, k)] = _fmt(r.get(k), r.get(k + "_std"), pct=k.startswith("tpr@") or k.startswith("fpr"))
        line["test acc"] = _fmt(r.get("test_accuracy"), r.get("test_accuracy_std"), pct=True)
        if any(x["not_ok"] for x in rows):
            line["not ok"] = r["not_ok"]
        table.append(line)
    return tabulate(table, headers="keys", tablefmt="github")


def by_defense(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (track, budget, defense): the strongest attack against it and the utility it costs.

    Strongest = highest mean TPR@0.1%FPR (then AUC); the cost is the drop in test accuracy from ``none``
    on the same track and budget (``None`` when ``none`` was not run).
    """
    records = list(records)
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in summarize(records):
        key = (row["track"], row["budget"], row["defense"])
        if row["seeds"] == 0:
            continue
        cur = best.get(key)
        rank = (row.get("tpr@0.1%fpr") or 0.0, row.get("auc") or 0.0)
        if cur is None or rank > (cur.get("tpr@0.1%fpr") or 0.0, cur.get("auc") or 0.0):
            best[key] = row
    out = []
    for (track, budget, defense), row in best.items():
        base = best.get((track, budget, "none"))
        acc = row.get("test_accuracy")
        cost = None if base is None or acc is None or base.get("test_accuracy") is None else base["test_accuracy"] - acc
        out.append({
            "track": track, "budget": budget, "defense": defense, "strongest_attack": row["attack"],
            "auc": row.get("auc"), "tpr@0.1%fpr": row.get("tpr@0.1%fpr"), "tpr@1%fpr": row.get("tpr@1%fpr"),
            "test_accuracy": acc, "utility_cost": cost,
            "attacks": sum(1 for r in summarize(records) if (r["track"], r["budget"], r["defense"]) == (track, budget, defense)),
        })
    return sorted(out, key=lambda r: (r["track"], r["budget"], -(r["tpr@0.1%fpr"] or 0.0), -(r["auc"] or 0.0)))


def render_by_defense(records: Iterable[dict[str, Any]], fmt: str = "md") -> str:
    """The per-defense view (``by_defense``) as ``md``, ``csv`` or ``json``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rows = by_defense(records)
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True)
    import pandas as pd

    if fmt == "csv":
        return pd.DataFrame(rows, columns=["track", "budget", "defense", "strongest_attack", "attacks", "auc", "tpr@0.1%fpr", "tpr@1%fpr", "test_accuracy", "utility_cost"]).to_csv(index=False).rstrip("\n")
    from tabulate import tabulate

    def pct(v: float | None, signed: bool = False) -> str:
        return "—" if v is None else (f"{100 * v:+.2f} pt" if signed else f"{100 * v:.2f}%")

    table = [
        {
            "track": r["track"], "budget": r["budget"], "defense": r["defense"], "strongest attack": r["strongest_attack"],
            "of": r["attacks"], "TPR@0.1%FPR": pct(r["tpr@0.1%fpr"]), "TPR@1%FPR": pct(r["tpr@1%fpr"]),
            "AUC": "—" if r["auc"] is None else f"{r['auc']:.3f}", "test acc": pct(r["test_accuracy"]),
            "utility cost": pct(r["utility_cost"], signed=True),
        }
        for r in rows
    ]
    return tabulate(table, headers="keys", tablefmt="github")
