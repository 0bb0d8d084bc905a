"""The ``privbench`` command line. Listing commands never import torch."""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import click

from ._api import PluginError, Task

__all__ = ["cli", "main"]


def _load(plugin_files: tuple[str, ...]) -> tuple[Any, Any]:
    from ._plugins import load_plugins

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            manager, registry = load_plugins(plugin_files)
        except PluginError as exc:
            raise click.ClickException(str(exc)) from None
    for w in caught:
        click.secho(f"warning: {w.message}", fg="yellow", err=True)
    return manager, registry


plugin_option = click.option(
    "--plugin", "plugin_files", multiple=True, type=click.Path(dir_okay=False),
    help="Register a local plugin file (repeatable), without packaging it.",
)


@click.group()
@click.version_option(package_name="privbench")
def cli() -> None:
    """privbench: benchmark privacy attacks and defenses on ML models."""


def _names(value: str, kind: str, registry: Any, task: Task | None = None) -> list[str]:
    if value == "all":
        names = registry.names(kind)
        if task is not None:
            names = [n for n in names if Task(task) in {Task(t) for t in registry.get(kind, n).obj.tasks}]
        return names
    names = [n.strip() for n in value.split(",") if n.strip()]
    for n in names:
        try:
            registry.get(kind, n)
        except PluginError as exc:
            raise click.BadParameter(str(exc), param_hint=f"--{kind}") from None
    return names


def _parse_sets(sets: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s in sets:
        name_key, eq, raw = s.partition("=")
        name, dot, key = name_key.partition(".")
        if not (eq and dot and name and key):
            raise click.BadParameter(f"{s!r} is not NAME.KEY=VALUE (e.g. lira.n_aug=4)", param_hint="--set")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(name, {})[key] = value
    return out


@cli.command()
@click.option("--track", "tracks", default="digits", show_default=True, help="Track name(s), comma-separated.")
@click.option("--attacks", default="all", show_default=True, help="Attack names, comma-separated, or 'all' (every attack for the track's task).")
@click.option("--defenses", default="none", show_default=True, help="Defense names, comma-separated, or 'all'.")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(1), help="Number of seeds (0..N-1).")
@click.option("--budget", default="smoke", show_default=True, help="Budget tier: smoke, cpu, gpu (as the track defines).")
@click.option("--out", "out_dir", default="runs", show_default=True, type=click.Path(file_okay=False), help="Results folder (results.jsonl, scores/).")
@click.option("--executor", default="local", show_default=True, help="Executor plugin (local, ray, ...).")
@click.option("--set", "sets", multiple=True, metavar="NAME.KEY=VALUE", help="Override an attack's or defense's parameter (repeatable).")
@click.option("--data-dir", type=click.Path(), default=None, help="Local copy of a track's data (e.g. the CIFAR python tarball).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Model cache (default: $PRIVBENCH_CACHE_DIR or ~/.cache/privbench).")
@click.option("--retry-failed", is_flag=True, help="Re-run cells recorded as failed instead of skipping them.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any cell is not ok.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars on stderr.")
@plugin_option
def run(tracks: str, attacks: str, defenses: str, seeds: int, budget: str, out_dir: str, executor: str, sets: tuple[str, ...],
        data_dir: str | None, device: str | None, cache_dir: str | None, retry_failed: bool, strict: bool, progress: bool,
        plugin_files: tuple[str, ...]) -> None:
    """Run (or resume) the benchmark grid and print its leaderboard table."""
    from ._runner import Plan, Session, run_plan
    from .leaderboard import render

    manager, registry = _load(plugin_files)
    track_names = _names(tracks, "tracks", registry)
    tasks = {registry.track(t).task for t in track_names}
    attack_names = sorted({a for task in tasks for a in _names(attacks, "attacks", registry, Task(task))})
    if not attack_names:
        raise click.ClickException(f"no attack supports the task(s) {', '.join(sorted(str(Task(t)) for t in tasks))}")
    defense_names = _names(defenses, "defenses", registry, Task(next(iter(tasks))) if len(tasks) == 1 else None)
    for t in track_names:
        tiers = registry.track(t).budgets
        if budget not in tiers:
            raise click.BadParameter(f"track {t!r} has no budget tier {budget!r}; tiers: {', '.join(tiers)}", param_hint="--budget")
    try:
        ex_cls = registry.get("executors", executor).obj
    except PluginError as exc:
        raise click.BadParameter(str(exc), param_hint="--executor") from None
    plan = Plan(
        tracks=track_names, attacks=attack_names, defenses=defense_names, seeds=list(range(seeds)), budget=budget,
        out_dir=out_dir, params=_parse_sets(sets), data_dir=data_dir, device=device, cache_dir=cache_dir,
        plugin_files=list(plugin_files), retry_failed=retry_failed, progress=progress,
    )
    session = Session(plan, registry=registry)
    session.manager = manager
    records = run_plan(plan, session=session, executor=ex_cls())
    click.echo(render(records, "md"))
    bad = [r for r in records if r["status"] != "ok"]
    for r in bad:
        first = (r.get("error") or "").splitlines()[0] if r.get("error") else ""
        click.secho(f"{r['track']['name']}/{r['defense']['name']}/{r['attack']['name']}/seed{r['seed']}: {r['status']}: {first}", fg="red", err=True)
    click.echo(f"{len(records) - len(bad)}/{len(records)} cells ok; results in {out_dir}/results.jsonl", err=True)
    if strict and bad:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@plugin_option
def plugins(as_json: bool, plugin_files: tuple[str, ...]) -> None:
    """Installed plugins: distribution, version, what each registers, broken ones with their error."""
    manager, _ = _load(plugin_files)
    infos = [p.as_dict() for p in manager.plugins.values()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    from tabulate import tabulate

    rows = []
    for p in infos:
        what = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["registers"].items() if v)
        rows.append([p["name"], p["distribution"] or p["source"], p["version"] or "", "BROKEN: " + p["error"] if p["broken"] else what])
    click.echo(tabulate(rows, headers=["plugin", "distribution", "version", "registers"], tablefmt="simple"))


@cli.command("list")
@click.argument("kind", type=click.Choice(["attacks", "defenses", "tracks"]))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@plugin_option
def list_(kind: str, as_json: bool, plugin_files: tuple[str, ...]) -> None:
    """List registered attacks, defenses or tracks."""
    _, registry = _load(plugin_files)
    items = registry.describe(kind)
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    from tabulate import tabulate

    cols = {"attacks": ["name", "threat_model", "tasks", "plugin"], "defenses": ["name", "tasks", "plugin"], "tracks": ["name", "task", "budgets", "plugin"]}[kind]
    rows = [[", ".join(v) if isinstance(v, list) else v for v in (d.get(c) for c in cols)] for d in items]
    click.echo(tabulate(rows, headers=cols, tablefmt="simple"))


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option("--by", "by", type=click.Choice(["attack", "defense"]), default="attack", show_default=True,
              help="attack: one row per (defense, attack); defense: per defense, its strongest attack and utility cost.")
def leaderboard(results: tuple[str, ...], fmt: str, by: str) -> None:
    """Leaderboard table from results.jsonl files or run folders (mean ± std over seeds)."""
    from ._records import iter_jsonl
    from .leaderboard import render, render_by_defense

    records = list(iter_jsonl(results))
    click.echo(render_by_defense(records, fmt) if by == "defense" else render(records, fmt))


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--attack", default=None, help="Plot this attack (default: the strongest attack against each defense).")
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False), help="Write the plot here (.png or .svg).")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True, help="Table format.")
def frontier(results: tuple[str, ...], attack: str | None, out_file: str | None, fmt: str) -> None:
    """Privacy–utility frontier: test accuracy against attack TPR@0.1%FPR and AUC, per defense (table; plot with --out)."""
    from ._records import iter_jsonl
    from .frontier import frontier_rows, plot, render_table

    rows = frontier_rows(iter_jsonl(results), attack=attack)
    if not rows:
        raise click.ClickException(f"no ok membership results{f' for attack {attack!r}' if attack else ''} in {', '.join(results)}")
    click.echo(render_table(rows, fmt))
    if out_file:
        plot(rows, out_file)
        click.echo(f"frontier plot written to {out_file}", err=True)


def main() -> None:
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
