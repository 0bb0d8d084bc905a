"""The site's pages: one board per (track, budget tier, threat model), rendered from Jinja2 templates.

A board's threat model is its attacks' (the record's ``attack.threat_model`` where a record states it, else the
installed attack plugin's, from :class:`Catalog`); its description is the track's. Each board page holds the
budget limits, a sortable table, one ROC figure overlaying the board's top entries (from the entries' ROC
points) and the privacy–utility frontier of the board's records. Pages are written by :func:`write_pages`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from . import aggregate as agg
from ._figures import Curve, frontier_points, plot_frontier, plot_roc
from ._io import atomic_write_text
from ._metric_specs import HEADLINE, RANKING, UTILITY, metric_spec
from ._record import Record
from ._templates import http_url, render

__all__ = ["Catalog", "Board", "load_catalog", "threat_model_of", "boards", "table_rows", "write_pages", "render_tables", "TOP_CURVES"]

TOP_CURVES = 6  # entries overlaid on a board's ROC figure


@dataclass(frozen=True)
class Catalog:
    """What the records do not say and the installed plugins do: attacks' threat models, tracks' descriptions."""

    threat_models: dict[str, str] = field(default_factory=dict)
    tracks: dict[str, str] = field(default_factory=dict)
    limits: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (track, tier) -> the tier's budget limits


def load_catalog(registry: Any = None) -> Catalog:
    """The catalog of the installed plugins (discovery imports no torch); empty where plugins cannot load."""
    if registry is None:
        from ._plugins import load_plugins

        try:
            _, registry = load_plugins((), strict=False)
        except Exception:  # a site of published records still builds; boards then say "unknown"
            return Catalog()
    tms = {d["name"]: d["threat_model"] for d in registry.describe("attacks")}
    tracks, limits = {}, {}
    for name in registry.names("tracks"):
        try:
            track = registry.track(name)
            tracks[name] = track.description or ""
            limits.update({(name, tier): budget.limits() for tier, budget in track.budgets.items()})
        except Exception:  # a broken track plugin: its boards show no description and no limits
            tracks[name] = ""
    return Catalog(tms, tracks, limits)


@dataclass
class Board:
    track: str
    tier: str
    threat_model: str
    description: str
    ranked: list[dict[str, Any]]
    apart: list[dict[str, Any]]
    limits: dict[str, Any]
    items: list[tuple[Record, Any]]

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.track}--{self.tier}--{self.threat_model}")


def threat_model_of(record: Record, catalog: Catalog) -> str:
    stated = getattr(record.attack, "threat_model", None)
    return str(stated) if stated else catalog.threat_models.get(record.attack.name, "unknown")


def boards(items: list[tuple[Record, Any]], rows: list[dict[str, Any]], catalog: Catalog) -> list[Board]:
    """One board per :class:`bench.site.Table` of ``rows`` (track, tier, threat model), with its records."""
    from .site import tables

    out = []
    for track, tier, tm, ranked, apart in tables(rows):
        these = [(rec, e) for rec, e in items if (rec.track.name, rec.budget.tier) == (track, tier) and threat_model_of(rec, catalog) == tm]
        limits = dict(catalog.limits.get((track, tier), {}))  # the tier's, never a record's own claim
        out.append(Board(track, tier, tm, catalog.tracks.get(track, ""), ranked, apart, limits, these))
    return out


def _status(row: dict[str, Any]) -> tuple[str, bool]:
    from .site import trust_status

    return trust_status(row), bool(row["verified"])


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a table row of the templates shows: texts, sort values and links (only http(s) URLs become links)."""
    out = []
    for i, (r, (best, worst)) in enumerate(zip(rows, agg.rank_bands(rows)), 1):
        status, verified = _status(r)
        metrics = []
        for key in (*HEADLINE, "test_accuracy"):
            spec = metric_spec(key) if key in HEADLINE else UTILITY[key]
            value = r[key]
            ci = r.get(key + "_ci")
            metrics.append({"text": spec.format(value), "ci": spec.format(ci[0]) + " – " + spec.format(ci[1]) if ci else "",
                            "sort": value if value is not None else ""})
        out.append({
            "rank": i, "band": f"{best}–{worst}", "id": r["id"], "attack": r["attack"], "attack_params": agg.params_text(r["attack_params"]),
            "defense": r["defense"], "defense_params": agg.params_text(r["defense_params"]),
            "title": r["title"] or "", "links": [(k, r[k], http_url(r[k])) for k in ("paper", "code") if r[k]],
            "status": status, "verified": verified, "verified_on": "; ".join(r["verified_on"]),
            "metrics": metrics, "seeds": len(r["seeds"]),
        })
    return out


def metric_titles() -> list[str]:
    return [metric_spec(k).title for k in HEADLINE] + [UTILITY["test_accuracy"].title]


def _roc_curves(board: Board) -> list[Curve]:
    """The board's top ranked rows, each the mean over its seeds' published ROC points (on a shared grid)."""
    curves = []
    for i, row in enumerate(board.ranked[:TOP_CURVES], 1):
        rocs = [c for c in row["curves"] if c.get("fpr")]
        if not rocs:
            continue
        same = [c for c in rocs if c["fpr"] == rocs[0]["fpr"]]
        tpr = [agg.mean(c["tpr"][j] for c in same) for j in range(len(rocs[0]["fpr"]))]
        params = f" ({row['defense']})"
        curves.append(Curve(f"#{i} {row['attack']}{params}", rocs[0]["fpr"], tpr))
    return curves


def _figures(board: Board, img: Path) -> dict[str, Optional[str]]:
    curves = _roc_curves(board)
    roc = frontier = None
    if curves:
        roc = "img/" + plot_roc(curves, f"{board.track}, {board.tier} budget, {board.threat_model} attacks: top entries",
                                img / f"roc-{board.slug}", svg=False)[0]
    points = frontier_points([rec for rec, _ in board.items])
    if points:
        lead = metric_spec(RANKING[0])
        frontier = "img/" + plot_frontier(points, lead.title, f"privacy–utility frontier: {board.track}, {board.tier}, {board.threat_model} attacks",
                                          img / f"frontier-{board.slug}", svg=False, chance=lead.chance)[0]
    return {"roc": roc, "frontier": frontier}


def write_pages(all_boards: list[Board], out: Path, progress: Callable[[str], None] | None = None) -> Path:
    """``index.html`` and one page per board under ``out`` (figures under ``out/img``); returns the index path."""
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    summaries = []
    for n, board in enumerate(all_boards, 1):
        if progress:
            progress(f"[{n}/{len(all_boards)}] {board.track} / {board.tier} / {board.threat_model}: "
                     f"{len(board.ranked) + len(board.apart)} rows")
        figs = _figures(board, img)
        page = f"{board.slug}.html"
        atomic_write_text(out / page, render(
            "board.html.j2", title=f"{board.track} — {board.tier} — {board.threat_model} | privbench leaderboards", board=board,
            ranked=table_rows(board.ranked), apart=table_rows(board.apart), heads=metric_titles(), figures=figs,
            lead=metric_spec(RANKING[0]).title, top_curves=TOP_CURVES))
        best = board.ranked[0] if board.ranked else None
        summaries.append({"page": page, "board": board, "rows": len(board.ranked) + len(board.apart),
                          "best": best and f"{best['attack']} vs {best['defense']}",
                          "best_metric": best and metric_spec(RANKING[0]).format(best[RANKING[0]])})
    index = out / "index.html"
    atomic_write_text(index, render("index.html.j2", title="privbench leaderboards", summaries=summaries,
                                    lead=metric_spec(RANKING[0]).title))
    return index


def render_tables(rows: list[dict[str, Any]], title: str, groups: Iterable[Any]) -> str:
    """One standalone page of sortable tables, one per :class:`bench.site.Table` (``privbench leaderboard --format html``)."""
    sections = [{"track": t, "tier": b, "threat_model": tm, "ranked": table_rows(r), "apart": table_rows(a)} for t, b, tm, r, a in groups]
    return render("tables.html.j2", title=title, sections=sections, heads=metric_titles(), empty=not rows)
