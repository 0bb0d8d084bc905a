"""``privbench report RUN_DIR``: a self-contained HTML report of a run folder, with its figures beside it.

A view: it reads the run's ``results.jsonl`` (:func:`bench._records.read_records`) and the per-candidate score
files the harness saved (``scores/<run_id>.npz``: ``scores``, ``is_member``, ``candidate_units`` and the attacks'
exports such as LiRA's ``memorization`` and ``lira_gap``); it never runs anything. Per (track, tier, defense):

- one log–log ROC with every attack, each with its 95% bootstrap band (members and non-members resampled apart;
  seeds pooled, as the harness pools targets);
- the score histograms of members and non-members, per attack;
- the most exposed examples: the members the strongest attack scores highest, with the share of non-members
  they out-score and the per-example exports where an attack saved them. The records and score files hold
  candidate *unit ids*, not the inputs; where the track's plugin is installed and its inputs are images, the
  report reads them through the plugin and shows a thumbnail beside each id (else ids and numbers only).

Per (track, tier): the privacy–utility frontier (error bars, Pareto line, no label on the data). Figures are written
as PNG and SVG under ``OUT/figures/``; the page links each PNG to its SVG.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import aggregate as agg
from ._figures import Curve, frontier_points, log_grid, plot_frontier, plot_histograms, plot_roc, roc_band
from ._io import atomic_write_text
from ._metric_specs import HEADLINE, RANKING, metric_spec
from ._record import Record
from ._records import read_records
from ._templates import render

__all__ = ["CellScores", "load_cells", "build_report", "EXPORTS", "REPORT"]

REPORT = "report.html"
EXPORTS = ("memorization", "lira_gap")  # per-example exports shown beside the exposed examples


@dataclass(frozen=True)
class CellScores:
    """An ok membership cell's record and its saved per-candidate arrays."""

    record: Record
    scores: np.ndarray
    is_member: np.ndarray
    units: np.ndarray
    exports: dict[str, np.ndarray] = field(default_factory=dict)


def load_cells(run_dir: str | os.PathLike[str]) -> tuple[list[Record], list[CellScores]]:
    """(every record, the ok cells whose score files are present) of a run folder; a missing folder is an error."""
    run = Path(run_dir)
    records = read_records(run)
    if not records:
        raise FileNotFoundError(f"{run}: no result records (results.jsonl); run `privbench run --out {run}` first")
    cells = []
    for rec in records:
        path = (run / rec.scores_file).resolve() if rec.ok and rec.scores_file else None
        if path is None or not path.is_relative_to(run.resolve()) or not path.exists():  # a crafted record may not point outside the run
            continue
        with np.load(path) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
        if "scores" not in arrays or "is_member" not in arrays or arrays["scores"].shape != arrays["is_member"].shape \
                or arrays["scores"].ndim != 1 or arrays.get("candidate_units", arrays["scores"]).shape != arrays["scores"].shape:
            continue  # not a cell's arrays as the runner writes them (a crafted or damaged file): left out, not a crash
        exports = {k: arrays[k].astype(float) for k in EXPORTS if k in arrays and arrays[k].shape == arrays["scores"].shape}
        units = arrays.get("candidate_units", np.arange(len(arrays["scores"])))
        cells.append(CellScores(rec, arrays["scores"].astype(float).ravel(), arrays["is_member"].astype(bool).ravel(), units, exports))
    return records, cells


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "--".join(parts))


def _attack_label(rec: Record) -> str:
    return rec.attack.name


def _metric_rows(records: list[Record]) -> list[dict[str, Any]]:
    """Per attack of one (track, tier, defense): seed means with mean intervals, strongest first."""
    rows = []
    for name, recs in agg.group_by(records, _attack_label).items():
        means = agg.seed_means(recs, HEADLINE, with_ci=True)
        cells = [{"text": metric_spec(k).format(means[k]), "ci": _ci_text(k, means[k + "_ci"])} for k in HEADLINE]
        rows.append({"attack": name, "seeds": len(recs), "metrics": cells, "means": means})
    return sorted(rows, key=lambda r: agg.rank_key(r["means"]))


def _ci_text(key: str, ci: Any) -> str:
    spec = metric_spec(key)
    return f"{spec.format(ci[0])} – {spec.format(ci[1])}" if ci else ""


def _pooled(cells: list[CellScores]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([c.scores for c in cells]), np.concatenate([c.is_member for c in cells])


def _exposed(cells: list[CellScores], top: int) -> list[dict[str, Any]]:
    """The strongest attack's highest-scored members, with the share of non-members of their seed below them."""
    rows = []
    for c in cells:
        neg = np.sort(c.scores[~c.is_member])
        for i in np.flatnonzero(c.is_member):
            rows.append((c.scores[i], c, i, np.searchsorted(neg, c.scores[i], side="left") / max(len(neg), 1)))
    rows.sort(key=lambda t: (-t[3], -t[0]))
    return [{"seed": c.record.seed, "unit": int(c.units[i]), "score": f"{s:.4g}", "beats": f"{100 * b:.1f}%", "image": None}
            for s, c, i, b in rows[:top]]


def _memorized(cells: list[CellScores], top: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Candidates with the largest exported ``memorization`` (else ``lira_gap``), with every export beside them."""
    have = [c for c in cells if c.exports]
    if not have:
        return [], []
    names = [k for k in EXPORTS if any(k in c.exports for c in have)]
    key = names[0]
    rows = []
    for c in have:
        if key not in c.exports:
            continue
        second = c.exports.get(names[-1], c.exports[key])
        for i in np.flatnonzero(np.isfinite(c.exports[key])):
            rows.append(((c.exports[key][i], np.nan_to_num(second[i], nan=-np.inf)), c, i))
    rows.sort(key=lambda t: (-t[0][0], -t[0][1]))  # ties (memorization is often exactly 1) broken by the next export
    out = [{"attack": c.record.attack.name, "seed": c.record.seed, "unit": int(c.units[i]), "member": bool(c.is_member[i]),
            "values": [f"{c.exports[k][i]:.3f}" if k in c.exports and np.isfinite(c.exports[k][i]) else "—" for k in names]}
           for _, c, i in rows[:top]]
    return names, out


def _track_images(track: str) -> Any:
    """The track's inputs as images (N, C, H, W), read through its installed plugin; None if it has none or fails."""
    if track not in _IMAGES:
        try:
            from ._plugins import load_plugins

            t = load_plugins()[1].track(track)
            data = t.load()
            x = getattr(data, "x", None)
            _IMAGES[track] = x if x is not None and np.ndim(x) == 4 and np.shape(x)[1] in (1, 3) else None
        except Exception:  # no plugin or no data here: the table keeps the ids
            _IMAGES[track] = None
    return _IMAGES[track]


_IMAGES: dict[str, Any] = {}


def _thumbnails(track: str, rows: list[dict[str, Any]], stem: Path) -> None:
    """A small PNG of each exposed example (``row["image"]``, a path relative to the report) where the track has images."""
    images = _track_images(track) if rows else None
    if images is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    for k, row in enumerate(rows):
        unit = int(row["unit"])
        if not 0 <= unit < len(images):
            continue
        img = np.asarray(images[unit], dtype=np.float32)
        img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
        path = stem.parent / f"{stem.name}-{k}.png"
        plt.imsave(path, img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0)), cmap="gray" if img.shape[0] == 1 else None)
        row["image"] = f"figures/{path.name}"


def _defense_section(key: tuple, records: list[Record], cells: list[CellScores], figs: Path, top: int) -> dict[str, Any]:
    track, tier, defense, params = key
    slug = _slug(track, tier, defense, params)
    by_attack = agg.group_by(sorted(cells, key=lambda c: (c.record.attack.name, c.record.seed)), lambda c: c.record.attack.name)
    title = f"{track}, {tier} budget, defense {defense}" + (f" ({params})" if params else "")
    section = {"title": title, "anchor": slug, "table": _metric_rows(records), "roc": [], "hist": [], "exposed": [], "strongest": None,
               "export_names": [], "memorized": []}
    if not by_attack:
        return section
    curves, panels = [], []
    for name, group in by_attack.items():
        s, y = _pooled(group)
        grid = log_grid(int((~y).sum()))
        tpr, lo, hi = roc_band(s, y, grid, seed=0)
        curves.append(Curve(f"{name} ({len(group)} seed{'s' if len(group) > 1 else ''})", grid, tpr, lo, hi))
        panels.append((name, s, y))
    section["roc"] = plot_roc(curves, f"ROC, {title}", figs / f"roc-{slug}")
    section["hist"] = plot_histograms(panels, f"attack scores, {title}", figs / f"hist-{slug}")
    strongest = section["table"][0]["attack"]
    section["strongest"] = strongest
    section["exposed"] = _exposed(by_attack.get(strongest, []), top)
    _thumbnails(track, section["exposed"], figs / f"exposed-{slug}")
    section["export_names"], section["memorized"] = _memorized(cells, top)
    return section


def _frontier_section(track: str, tier: str, records: list[Record], figs: Path) -> dict[str, Any] | None:
    points = frontier_points(records)
    if not points:
        return None
    lead = metric_spec(RANKING[0])
    files = plot_frontier(points, lead.title, f"privacy–utility frontier: {track}, {tier} budget", figs / f"frontier-{_slug(track, tier)}",
                          chance=lead.chance)
    table = [{"label": p.label, "accuracy": f"{100 * p.accuracy:.2f}% ± {100 * p.accuracy_sd:.2f}", "leak": lead.format(p.leak),
              "leak_ci": _ci_text(RANKING[0], p.leak_ci), "auc": metric_spec("auc").format(p.auc), "auc_ci": _ci_text("auc", p.auc_ci)}
             for p in points]
    return {"title": f"{track}, {tier} budget", "files": files, "points": table, "lead": lead.title}


def build_report(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *, top: int = 10,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Write ``OUT/report.html`` (default OUT: RUN_DIR/report) and its figures; returns the page's path."""
    run = Path(run_dir)
    records, cells = load_cells(run)
    out_dir = Path(out) if out is not None else run / "report"
    figs = out_dir / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.ok and "auc" in r.metrics]
    groups = agg.group_by(ok, agg.defense_key)
    sections = []
    for n, (key, recs) in enumerate(sorted(groups.items()), 1):
        if progress:
            progress(f"[{n}/{len(groups)}] {' / '.join(k for k in key if k)}")
        ids = {r.run_id for r in recs}
        sections.append(_defense_section(key, recs, [c for c in cells if c.record.run_id in ids], figs, top))
    frontiers = [f for (t, b), recs in sorted(agg.group_by(ok, lambda r: (r.track.name, r.budget.tier)).items())
                 if (f := _frontier_section(t, b, recs, figs))]
    failed = [{"label": r.label(), "status": r.status, "error": (r.error or "").splitlines()[0] if r.error else ""} for r in records if not r.ok]
    page = out_dir / REPORT
    atomic_write_text(page, render("report.html.j2", title=f"privbench report: {run.resolve().name}", run=str(run), sections=sections,
                                   frontiers=frontiers, failed=failed, n_records=len(records), n_ok=len(ok), home=REPORT,
                                   heads=[metric_spec(k).title for k in HEADLINE]))
    return page
