"""Leaderboard tables from result records: mean ± std over seeds, strongest attack first (``aggregate.rank_key``).

>>> from bench import Record
>>> rec = Record.from_dict({"schema_version": 2, "run_id": "r", "track": {"name": "t", "task": "classification"},
...        "budget": {"tier": "smoke"}, "defense": {"name": "none"}, "attack": {"name": "a"}, "seed": 0, "status": "ok",
...        "utility": {"test_accuracy": 0.9}, "metrics": {"auc": 0.75, "tpr@0.1%fpr": 0.01, "tpr@1%fpr": 0.05, "advantage": 0.4}})
>>> print(render([rec], "csv").splitlines()[1])
t,smoke,none,a,1,0.75,0.0,0.01,0.0,0.05,0.0,,,0.4,0.0,0.9,0.0,
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from . import aggregate as agg
from ._metric_specs import HEADLINE, MEMBERSHIP_COLUMNS, UTILITY, is_metric_column, metric_spec
from ._record import Record

__all__ = ["summarize", "render", "by_defense", "render_by_defense", "FORMATS"]

FORMATS = ("md", "csv", "json", "html")
_GROUP = ("track", "budget", "defense", "attack")
_TEST = UTILITY["test_accuracy"]


def _metric_keys(task: str, ok: list[Record]) -> list[str]:
    """Membership tasks: the standard columns, then any task or scenario metric found; integrity: its own only."""
    standard = list(MEMBERSHIP_COLUMNS) if task != "integrity" else []
    found = sorted({k for r in ok for k, v in r.metrics.items() if k not in standard and is_metric_column(k, v)})
    return standard + found


def summarize(records: Iterable[Record]) -> list[dict[str, Any]]:
    """One row per (track, budget, defense, attack) over its seeds; failed cells are counted, not averaged."""
    rows = []
    for key, recs in agg.group_by(records, agg.cell_key).items():
        ok = [r for r in recs if r.ok]
        row: dict[str, Any] = dict(zip(_GROUP, key))
        row["seeds"] = len(ok)
        row["task"] = recs[0].task
        for k in _metric_keys(row["task"], ok):
            row[k], row[k + "_std"] = agg.mean_std(r.metrics.get(k) for r in ok)
        row["test_accuracy"], row["test_accuracy_std"] = agg.mean_std(r.utility.test_accuracy for r in ok)
        bad = [r.status for r in recs if not r.ok]
        row["not_ok"] = ", ".join(f"{s}×{bad.count(s)}" for s in sorted(set(bad))) if bad else ""
        rows.append(row)
    return sorted(rows, key=lambda r: (r["track"], r["budget"], *agg.rank_key(r)))


def render(records: Iterable[Record], fmt: str = "md") -> str:
    """Render records as a table: ``md`` (GitHub markdown), ``csv``, ``json`` or ``html`` (a sortable page)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; choose one of {', '.join(FORMATS)}")
    records = list(records)
    if fmt == "html":
        from .site import render_html, rows_from_records

        return render_html(rows_from_records((r, None) for r in records))
    rows = summarize(records)
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True)
    if fmt == "md" and len({r["task"] for r in rows}) > 1:  # one table per task, each with its own metrics
        tasks = list(dict.fromkeys(r["task"] for r in rows))
        return "\n\n".join(f"task: {t}\n\n" + render([rec for rec in records if rec.task == t], fmt) for t in tasks)
    skip = {"seeds", "not_ok", "test_accuracy", "task", *_GROUP}
    metric_keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in skip and not k.endswith("_std")]
    if fmt == "csv":
        import pandas as pd

        cols = list(_GROUP) + ["seeds"] + [c for k in metric_keys + ["test_accuracy"] for c in (k, k + "_std")] + ["not_ok"]
        return pd.DataFrame(rows, columns=cols).to_csv(index=False).rstrip("\n")
    return _markdown(rows, metric_keys)


def _markdown(rows: list[dict[str, Any]], metric_keys: list[str]) -> str:
    from tabulate import tabulate

    table = []
    for r in rows:
        line = {k: r[k] for k in (*_GROUP, "seeds")}
        for k in metric_keys:
            spec = metric_spec(k)
            line[spec.title] = spec.format(r.get(k), std=r.get(k + "_std") or 0.0 if r.get(k) is not None else None)
        line[_TEST.title] = _TEST.format(r.get("test_accuracy"), std=r.get("test_accuracy_std") or 0.0)
        if any(x["not_ok"] for x in rows):
            line["not ok"] = r["not_ok"]
        table.append(line)
    return tabulate(table, headers="keys", tablefmt="github")


def by_defense(records: Iterable[Record]) -> list[dict[str, Any]]:
    """One row per (track, budget, defense): the strongest attack against it and the utility it costs.

    Strongest by :func:`bench.aggregate.rank_key`; the cost is the drop in test accuracy from ``none``
    on the same track and budget (``None`` when ``none`` was not run).
    """
    summary = [r for r in summarize(records) if r["seeds"]]
    per_defense = agg.group_by(summary, lambda r: (r["track"], r["budget"], r["defense"]))
    best = {key: agg.strongest(rows) for key, rows in per_defense.items()}
    out = []
    for (track, budget, defense), row in best.items():
        base = best.get((track, budget, "none"))
        acc = row.get("test_accuracy")
        cost = None if base is None or acc is None or base.get("test_accuracy") is None else base["test_accuracy"] - acc
        out.append({
            "track": track, "budget": budget, "defense": defense, "strongest_attack": row["attack"],
            **{k: row.get(k) for k in HEADLINE}, "test_accuracy": acc, "utility_cost": cost,
            "attacks": len(per_defense[(track, budget, defense)]),
        })
    return sorted(out, key=lambda r: (r["track"], r["budget"], *agg.rank_key(r)))


def render_by_defense(records: Iterable[Record], fmt: str = "md") -> str:
    """The per-defense view (``by_defense``) as ``md``, ``csv`` or ``json``."""
    if fmt not in FORMATS or fmt == "html":
        raise ValueError(f"unknown per-defense format {fmt!r}; choose one of md, csv, json")
    rows = by_defense(records)
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True)
    if fmt == "csv":
        import pandas as pd

        cols = ["track", "budget", "defense", "strongest_attack", "attacks", *HEADLINE, "test_accuracy", "utility_cost"]
        return pd.DataFrame(rows, columns=cols).to_csv(index=False).rstrip("\n")
    from tabulate import tabulate

    def cost(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:+.2f} pt"

    table = [
        {"track": r["track"], "budget": r["budget"], "defense": r["defense"], "strongest attack": r["strongest_attack"], "of": r["attacks"],
         **{metric_spec(k).title: metric_spec(k).format(r[k]) for k in HEADLINE},
         _TEST.title: _TEST.format(r["test_accuracy"]), "utility cost": cost(r["utility_cost"])}
        for r in rows
    ]
    return tabulate(table, headers="keys", tablefmt="github")
