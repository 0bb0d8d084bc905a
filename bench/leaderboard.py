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
import textwrap
from typing import Any, Iterable

from . import aggregate as agg
from ._metric_specs import HEADLINE, MEMBERSHIP_COLUMNS, UTILITY, is_metric_column, metric_spec
from ._record import Record

__all__ = ["summarize", "render", "by_defense", "render_by_defense", "FORMATS", "WIDTH"]

FORMATS = ("md", "csv", "json", "html")
WIDTH = 120  # the compact markdown table fits a terminal this wide; --wide shows every column
_GROUP = ("track", "budget", "defense", "attack")
_TEST = UTILITY["test_accuracy"]


def _metric_keys(task: str, ok: list[Record]) -> list[str]:
    """Membership tasks: the standard columns, then any task or scenario metric found; integrity: its own only."""
    standard = list(MEMBERSHIP_COLUMNS) if task != "integrity" else []
    found = sorted({k for r in ok for k, v in r.metrics.items() if k not in standard and is_metric_column(k, v)})
    return standard + found


def summarize(records: Iterable[Record]) -> list[dict[str, Any]]:
    """One row per (track, budget, defense, attack) over its seeds; failed cells are counted, not averaged.

    Each metric ``k`` has its seed mean ``k``, standard deviation ``k_std`` (0.0 for one seed) and, where the
    records hold intervals, ``k_ci``: the mean of the seeds' intervals (for one seed, that record's own).
    """
    rows = []
    for key, recs in agg.group_by(records, agg.cell_key).items():
        ok = [r for r in recs if r.ok]
        row: dict[str, Any] = dict(zip(_GROUP, key))
        row["seeds"] = len(ok)
        row["task"] = recs[0].task
        row["threat_model"] = recs[0].attack.threat_model or "unknown"
        for k in _metric_keys(row["task"], ok):
            row[k], row[k + "_std"] = agg.mean_std(r.metrics.get(k) for r in ok)
            ci = agg.mean_interval(r.metrics.get(k + "_ci") for r in ok)
            if ci is not None:
                row[k + "_ci"] = ci
        row["test_accuracy"], row["test_accuracy_std"] = agg.mean_std(r.utility.test_accuracy for r in ok)
        bad = [r.status for r in recs if not r.ok]
        row["not_ok"] = ", ".join(f"{s}×{bad.count(s)}" for s in sorted(set(bad))) if bad else ""
        rows.append(row)
    return sorted(rows, key=lambda r: (r["track"], r["budget"], agg.threat_model_key(r["threat_model"]), *agg.rank_key(r)))


def render(records: Iterable[Record], fmt: str = "md", wide: bool = False) -> str:
    """Render records as a table: ``md`` (GitHub markdown), ``csv``, ``json`` or ``html`` (a sortable page).

    ``md`` is one table per (track, budget, threat model), at most :data:`WIDTH` characters wide unless ``wide``
    (every column): attacks are ranked only against attacks with the same access, as on the boards.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; choose one of {', '.join(FORMATS)}")
    records = list(records)
    if fmt == "html":
        from ._site_pages import load_catalog
        from .site import render_html, rows_from_records

        return render_html(rows_from_records(((r, None) for r in records), load_catalog().threat_models))  # boards as the README's
    rows = summarize(records)
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True)
    if fmt == "csv":
        import pandas as pd

        cols = list(_GROUP) + ["seeds"] + [c for k in _row_metric_keys(rows) + ["test_accuracy"] for c in (k, k + "_std")] + ["not_ok"]
        return pd.DataFrame(rows, columns=cols).to_csv(index=False).rstrip("\n")
    groups = agg.group_by(rows, lambda r: (r["track"], r["budget"], r["threat_model"]))
    return "\n\n".join(_markdown(track, budget, group, wide) for (track, budget, _), group in groups.items())


def _row_metric_keys(rows: list[dict[str, Any]]) -> list[str]:
    skip = {"seeds", "not_ok", "test_accuracy", "task", "threat_model", *_GROUP}
    return [k for k in dict.fromkeys(k for r in rows for k in r) if k not in skip and not k.endswith(("_std", "_ci"))]


def _cell(key: str, row: dict[str, Any]) -> str:
    """One seed: the value with its interval; several: mean ± std over seeds (never ``± 0`` for one seed)."""
    spec = metric_spec(key)
    if row["seeds"] > 1:
        return spec.format(row.get(key), std=row.get(key + "_std"))
    return spec.format(row.get(key), ci=row.get(key + "_ci"))


def _markdown(track: str, budget: str, rows: list[dict[str, Any]], wide: bool) -> str:
    """One (track, budget) table: identity columns, then metric columns by priority, trimmed to WIDTH unless wide."""
    metric_keys = _row_metric_keys(rows)
    if not wide and rows[0]["task"] != "integrity" and set(HEADLINE) <= set(metric_keys):
        metric_keys = [k for k in metric_keys if k in HEADLINE] + [k for k in metric_keys if k not in HEADLINE]
    keys = [k for k in metric_keys + ["test_accuracy"] if wide or any(r.get(k) is not None for r in rows)]
    seeds = sorted({r["seeds"] for r in rows if r["seeds"]}) or [0]  # cells with no ok seed are listed as not ok
    ident = ["defense", "attack"] + (["seeds"] if wide or len(seeds) > 1 else [])
    not_ok = [r for r in rows if r["not_ok"]]

    def table(shown: list[str]) -> str:
        lines = [{**{c: str(r[c]) for c in ident}, **{metric_spec(k).title: _cell(k, r) for k in shown},
                  **({"not ok": r["not_ok"]} if wide and not_ok else {})} for r in rows]
        return _github(lines)

    shown = keys if wide else _fit(keys, table)
    head = f"{track} · budget {budget} · {rows[0]['task']} · {rows[0]['threat_model']} attacks · {_seeds_text(seeds)}"
    notes = []
    if len(shown) < len(keys):
        notes.append("not shown: " + ", ".join(metric_spec(k).title for k in keys if k not in shown) + " (--wide shows every column)")
    if not_ok and not wide:
        notes.append("not ok: " + "; ".join(f"{r['defense']}/{r['attack']} {r['not_ok']}" for r in not_ok))
    return "\n\n".join([table(shown) if i == 1 else textwrap.fill(text, WIDTH, break_on_hyphens=False)
                        for i, text in enumerate([head, "", *notes])])


def _github(lines: list[dict[str, str]]) -> str:
    """A GitHub markdown table of strings, columns as narrow as their widest cell (tabulate pads each by two)."""
    heads = list(lines[0])
    widths = [max(len(h), *(len(line[h]) for line in lines)) for h in heads]

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([row(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(row([line[h] for h in heads]) for line in lines)])


def _seeds_text(seeds: list[int]) -> str:
    """How many seeds the cells have, and so how their numbers read (see :func:`_cell`)."""
    one, several = "value [95% interval]", "mean ± std over seeds"
    if seeds == [0]:
        return "no cell ran"
    if len(seeds) == 1:
        return f"{seeds[0]} seed{'' if seeds[0] == 1 else 's'} per cell: {one if seeds[0] <= 1 else several}"
    return f"{seeds[0]}–{seeds[-1]} seeds per cell: one seed: {one}; several: {several}"


def _fit(keys: list[str], table: Any) -> list[str]:
    """The longest prefix of ``keys`` (test accuracy kept last) whose table fits in :data:`WIDTH` columns."""
    tail = [k for k in keys if k == "test_accuracy"]
    head = [k for k in keys if k != "test_accuracy"]
    for n in range(len(head), 0, -1):
        shown = head[:n] + tail
        if max(len(line) for line in table(shown).splitlines()) <= WIDTH:
            return shown
    return head[:1] + tail


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
    return tabulate(table, headers="keys", tablefmt="github", disable_numparse=True)
