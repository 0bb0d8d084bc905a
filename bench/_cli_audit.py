"""``privbench audit NAME --track T``: audits a benchmark's maintainers run on a track (no torch at import).

Two kinds of audit plugin, both registered as attacks with the ``integrity`` task:
- a data audit exposes ``classifier(image_shape, data_dir) -> (clf, held_out)`` (``clf.scores(images)``,
  ``clf.threshold``), e.g. ``q16``: the command lists the flagged examples of each split part with scores;
- any other integrity attack (e.g. ``eat``) is a model audit: it runs on the track's target, trained or
  loaded from the cache like ``privbench run`` does, whatever the track's task, and its metrics are printed.
"""

from __future__ import annotations

import json
from typing import Any

import click
import numpy as np

from ._api import PluginError, Task

__all__ = ["audit", "flagged_rows"]


def flagged_rows(clf: Any, track: Any, data: Any, split: Any, parts: tuple[str, ...] = ("members", "nonmembers", "population")) -> list[dict[str, Any]]:
    """Every flagged unit of the split parts: part, unit, score (and caption / planted truth where the data has them)."""
    rows = []
    for part in parts:
        units = np.asarray(getattr(split, part))
        c = track.candidates(data, units)
        images = c.image if "image" in c.fields else c.images[:, 0]
        scores = clf.scores(images)
        for u, s in zip(units[scores >= clf.threshold], scores[scores >= clf.threshold]):
            row = {"part": part, "unit": int(u), "score": round(float(s), 4)}
            if "caption" in data.fields:
                row["caption"] = data.caption[int(u)]
            if "planted" in data.fields:
                row["planted"] = int(np.asarray(data.planted)[int(u)])
            rows.append(row)
    return rows


def _planted_summary(clf: Any, track: Any, data: Any, split: Any) -> dict[str, float] | None:
    """Recall and false-flag rate over the split's units where the data marks planted examples (synthetic tracks)."""
    if "planted" not in data.fields:
        return None
    units = np.concatenate([split.members, split.nonmembers, split.population])
    c = track.candidates(data, units)
    flags = clf.scores(c.image if "image" in c.fields else c.images[:, 0]) >= clf.threshold
    truth = np.asarray(data.planted)[units] == 1
    return {"planted": int(truth.sum()), "recall": float(flags[truth].mean()) if truth.any() else float("nan"),
            "false_flag_rate": float(flags[~truth].mean()), "units": int(len(units))}


@click.command()
@click.argument("name")
@click.option("--track", required=True, help="Track to audit.")
@click.option("--set", "sets", multiple=True, metavar="NAME.KEY=VALUE", help="Override a track's or the audit's parameter (repeatable).")
@click.option("--budget", default="smoke", show_default=True, help="Budget tier the model audit runs under.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the target a model audit inspects.")
@click.option("--top", default=50, show_default=True, type=click.IntRange(0), help="Data audit: list at most this many flagged examples (0: all).")
@click.option("--data-dir", type=click.Path(), default=None, help="Local copy of the track's data.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Model cache (default: $PRIVBENCH_CACHE_DIR or ~/.cache/privbench).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plugin", "plugin_files", multiple=True, type=click.Path(dir_okay=False), help="Register a local plugin file (repeatable).")
def audit(name: str, track: str, sets: tuple[str, ...], budget: str, seed: int, top: int, data_dir: str | None, cache_dir: str | None,
          as_json: bool, plugin_files: tuple[str, ...]) -> None:
    """Audit a track's data (e.g. q16: list flagged examples of its split) or its target model (e.g. eat)."""
    from ._cli_run import load_tracks
    from .cli import _load, _parse_sets
    from ._runner import Cell, Plan, Session

    _, registry = _load(plugin_files)
    params = _parse_sets(sets)
    try:
        attack = registry.attack(name, **params.get(name, {}))
        registry.track(track)
    except (PluginError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if not attack.supports(Task.INTEGRITY):
        raise click.ClickException(f"{name!r} is not an audit: audits are attacks with the 'integrity' task")
    plan = Plan(tracks=[track], attacks=[name], defenses=["none"], seeds=[seed], budget=budget, params=params, data_dir=data_dir,
                device="cpu", cache_dir=cache_dir, progress=False, scenarios=False)
    session = Session(plan, registry=registry)
    load_tracks(session, [track], data_dir)  # data that cannot load: a message saying what to do, exit 3
    t, data, split = session.track(track)
    if hasattr(attack, "classifier"):
        _data_audit(attack, t, data, split, data_dir, top, as_json)
        return
    cell = Cell(track, "none", name, seed, budget, {}, dict(params.get(name, {})))
    target = session.target(cell)
    if target["error"]:
        raise click.ClickException(target["error"])
    ctx, ledger = session.context(cell, attack, session.defense(cell), target["module"])
    metrics = {k: float(v) for k, v in attack.score(ctx).items()}
    out = {"audit": name, "track": track, "track_version": t.version, "split_sha256": split.sha256, "seed": seed, "metrics": metrics, "used": ledger.used()}
    click.echo(json.dumps(out, indent=2) if as_json else "\n".join(f"{k}: {v:.6g}" for k, v in metrics.items()))


def _data_audit(attack: Any, track: Any, data: Any, split: Any, data_dir: str | None, top: int, as_json: bool) -> None:
    from tabulate import tabulate

    one = track.candidates(data, split.population[:1])
    shape = tuple(one.image.shape[1:]) if "image" in one.fields else tuple(one.images.shape[2:])
    try:
        clf, held = attack.classifier(shape, data_dir)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    flags = clf.scores(held["image"]) >= clf.threshold
    check = {"heldout_recall": float(flags[held["label"] == 1].mean()), "heldout_false_flags": float(flags[held["label"] == 0].mean())}
    rows = sorted(flagged_rows(clf, track, data, split), key=lambda r: -r["score"])
    planted = _planted_summary(clf, track, data, split)
    if as_json:
        click.echo(json.dumps({"audit": attack.name, "track": track.name, "split_sha256": split.sha256, "threshold": clf.threshold,
                               "labelled_check": check, "planted": planted, "flagged": rows}, indent=2))
        return
    shown = rows if top == 0 else rows[:top]
    click.echo(tabulate(shown, headers="keys") if shown else "no flagged examples")
    click.echo(f"{len(rows)} flagged of {len(split.members) + len(split.nonmembers) + len(split.population)} split units "
               f"(threshold {clf.threshold:g}); held-out labelled check: recall {check['heldout_recall']:.3f}, "
               f"false flags {check['heldout_false_flags']:.3f}", err=True)
    if planted:
        click.echo(f"planted examples in the split: {planted['planted']}, recall {planted['recall']:.3f}, "
                   f"false-flag rate {planted['false_flag_rate']:.3f}", err=True)
