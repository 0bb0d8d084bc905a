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
@click.option("--slots", type=click.IntRange(1), default=None, help="local executor: parallel device slots (default: one per GPU, else 1).")
@click.option("--ray-address", default=None, metavar="HOST:PORT", help="ray executor: the cluster's head (default: $RAY_ADDRESS, else a local Ray).")
@click.option("--set", "sets", multiple=True, metavar="NAME.KEY=VALUE", help="Override an attack's or defense's parameter (repeatable).")
@click.option("--data-dir", type=click.Path(), default=None, help="Local copy of a track's data (e.g. the CIFAR python tarball).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Model cache (default: $PRIVBENCH_CACHE_DIR or ~/.cache/privbench).")
@click.option("--retry-failed", is_flag=True, help="Re-run cells recorded as failed instead of skipping them.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any cell is not ok.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars on stderr.")
@click.option("--scenarios/--no-scenarios", default=True, show_default=True,
              help="Also score OOD and neighbour non-members (fpr_ood, fpr_neighbours) for attacks that set a threshold.")
@plugin_option
def run(tracks: str, attacks: str, defenses: str, seeds: int, budget: str, out_dir: str, executor: str, slots: int | None, ray_address: str | None, sets: tuple[str, ...],
        data_dir: str | None, device: str | None, cache_dir: str | None, retry_failed: bool, strict: bool, progress: bool,
        scenarios: bool, plugin_files: tuple[str, ...]) -> None:
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
        plugin_files=list(plugin_files), retry_failed=retry_failed, progress=progress, scenarios=scenarios,
    )
    session = Session(plan, registry=registry)
    session.manager = manager
    options = {k: v for k, v in {"slots": slots, "address": ray_address}.items() if v is not None}
    records = run_plan(plan, session=session, executor=ex_cls(**options))
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


class _LeaderboardGroup(click.Group):
    """``privbench leaderboard [RESULTS…]`` renders a table; ``submit``/``build``/``verify`` are subcommands.

    Arguments that do not start with a subcommand name go to the ``table`` command, so the plain form of
    DESIGN.md keeps working (a results folder literally named ``build`` is reached as ``./build``).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["table", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_LeaderboardGroup)
def leaderboard() -> None:
    """Leaderboard tables, and publishing results to leaderboards/ (submit, build, verify)."""


@leaderboard.command("table")
@click.argument("results", nargs=-1, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json", "html"]), default="md", show_default=True)
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False), help="Published entries, used when no RESULTS are given.")
@click.option("--by", "by", type=click.Choice(["attack", "defense"]), default="attack", show_default=True,
              help="attack: one row per (defense, attack); defense: per defense, its strongest attack and utility cost.")
def leaderboard_table(results: tuple[str, ...], fmt: str, root: str, by: str) -> None:
    """Table from results.jsonl files or run folders (mean ± std over seeds); none given: the published entries."""
    from ._records import iter_jsonl
    from .leaderboard import render, render_by_defense

    if results:
        records = list(iter_jsonl(results))
    else:
        from .site import entry_records

        records = [r for r, _ in entry_records(root)]
    if by == "defense":
        if fmt == "html":
            raise click.BadParameter("--by defense renders md, csv or json", param_hint="--format")
        click.echo(render_by_defense(records, fmt))
        return
    click.echo(render(records, fmt))


@leaderboard.command("submit")
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--title", default=None, help="Submission title (shown in the tables).")
@click.option("--paper", default=None, help="Paper URL.")
@click.option("--code", default=None, help="Code URL.")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False), help="Leaderboards folder.")
@click.option("--skip-invalid", is_flag=True, help="Publish the valid records even if others are refused.")
@plugin_option
def leaderboard_submit(results: tuple[str, ...], title: str | None, paper: str | None, code: str | None, root: str,
                       skip_invalid: bool, plugin_files: tuple[str, ...]) -> None:
    """Validate result records and write one entry per cell under ROOT/<track>/<budget>/."""
    from .publish import submit

    _, registry = _load(plugin_files)
    sub = submit(results, root, title=title, paper=paper, code=code, registry=registry, skip_invalid=skip_invalid)
    for p in sub.problems:
        click.secho(f"refused: {p}", fg="red", err=True)
    for path in sub.written:
        click.echo(f"wrote {path}")
    if sub.problems and not skip_invalid:
        raise click.ClickException(f"{len(sub.problems)} problem(s); nothing was written")
    click.echo(f"{len(sub.written)} entr{'y' if len(sub.written) == 1 else 'ies'} written; run `privbench leaderboard build` to update the tables", err=True)
    if sub.problems:
        sys.exit(1)


@leaderboard.command("build")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False), help="Leaderboards folder.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help="Site folder (default: ROOT/site).")
@click.option("--check", is_flag=True, help="Only check that ROOT/README.md is up to date with the entries; exit 1 if stale.")
def leaderboard_build(root: str, out_dir: str | None, check: bool) -> None:
    """Regenerate ROOT/README.md (one table per track and budget) and the static site."""
    from pathlib import Path

    from .site import README, build_site, check_readme, entry_records, rows_from_records

    ok, want = check_readme(root)
    if check:
        if not ok:
            raise click.ClickException(f"{Path(root) / README} is stale: run `privbench leaderboard build` and commit the result")
        click.echo(f"{Path(root) / README} is up to date")
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    (Path(root) / README).write_text(want)
    index = build_site(rows_from_records(entry_records(root)), out_dir or Path(root) / "site")
    click.echo(f"wrote {Path(root) / README} and {index}")


@leaderboard.command("verify")
@click.argument("entry", type=click.Path(exists=True, dir_okay=False))
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Model cache (default: $PRIVBENCH_CACHE_DIR or ~/.cache/privbench).")
@click.option("--mark", is_flag=True, help="If the metrics agree, record the verification (and hardware) in the entry.")
@click.option("--progress/--no-progress", default=False, help="Show training progress bars.")
@plugin_option
def leaderboard_verify(entry: str, device: str, cache_dir: str | None, mark: bool, progress: bool, plugin_files: tuple[str, ...]) -> None:
    """Re-run an entry's cell from its spec; exit 1 unless its metrics agree within the entry's tolerance."""
    from .publish import verify_entry

    _, registry = _load(plugin_files)
    res = verify_entry(entry, device=device, cache_dir=cache_dir, registry=registry, mark=mark, progress=progress)
    for key, (old, got, diff, tol) in res["diffs"].items():
        ok = diff is not None and diff <= tol
        click.echo(f"{key:>14}: published {old}, reproduced {got}, |diff| {diff if diff is None else f'{diff:.4f}'} (tolerance {tol}) {'ok' if ok else 'DIFFERS'}")
    if res.get("error"):
        click.secho(f"re-run {res['status']}: {res['error']}", fg="red", err=True)
    click.echo(f"{entry}: {'agrees' if res['agree'] else 'does NOT agree'}" + (" (marked verified)" if res.get("marked") else "") + (" (verification removed)" if res.get("unmarked") else ""))
    if not res["agree"]:
        sys.exit(1)


@cli.group()
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Model cache (default: $PRIVBENCH_CACHE_DIR or ~/.cache/privbench).")
@click.pass_context
def cache(ctx: click.Context, cache_dir: str | None) -> None:
    """Inspect and clean the content-addressed model cache (targets and shadow models)."""
    from ._cache import ModelCache

    ctx.obj = ModelCache(cache_dir)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


@cache.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the full metadata of each entry).")
@click.pass_obj
def cache_ls(model_cache: Any, as_json: bool) -> None:
    """One line per cached model: key, track, role, defense, seed, training cost, size."""
    entries = model_cache.entries()
    if as_json:
        click.echo(json.dumps(entries, indent=2, default=str))
        return
    from tabulate import tabulate

    rows = []
    for e in entries:
        spec = e.get("spec", {})
        rows.append([
            e.get("key", "")[:12], spec.get("track", {}).get("name"), spec.get("role"), spec.get("defense", {}).get("name"),
            spec.get("seed"), spec.get("n_units"), f"{float(e.get('train_seconds', 0)):.1f}", e.get("batched", ""), _size(e["bytes"]), e.get("created_at", ""),
        ])
    click.echo(tabulate(rows, headers=["key", "track", "role", "defense", "seed", "units", "train_s", "batched", "size", "created"], tablefmt="simple"))
    click.echo(f"{len(entries)} models in {model_cache.root}", err=True)


@cache.command("du")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def cache_du(model_cache: Any, as_json: bool) -> None:
    """Disk usage of the cache, in total and per (track, role)."""
    u = model_cache.usage()
    if as_json:
        click.echo(json.dumps(u, indent=2))
        return
    from tabulate import tabulate

    rows = [[g["track"], g["role"], g["entries"], _size(g["bytes"])] for g in u["groups"]]
    rows.append(["total", "", u["entries"], _size(u["bytes"])])
    click.echo(tabulate(rows, headers=["track", "role", "models", "size"], tablefmt="simple"))
    if u["debris_bytes"]:
        click.echo(f"{_size(u['debris_bytes'])} of temporary or corrupt files ({'privbench cache gc'} removes them)", err=True)


@cache.command("gc")
@click.option("--unused-for", default=None, metavar="AGE", help="Also remove models not used for AGE (e.g. 30d, 12h).")
@click.option("--grace", default="1h", show_default=True, metavar="AGE", help="Leave temporary files younger than this (a writer may still be running).")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.pass_obj
def cache_gc(model_cache: Any, unused_for: str | None, grace: str, dry_run: bool) -> None:
    """Remove corrupt entries, leftovers of interrupted writes and (with --unused-for) models unused for a while."""
    from ._cache import parse_age

    try:
        unused = parse_age(unused_for) if unused_for else None
        grace_s = parse_age(grace)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    removed = model_cache.gc(unused_for=unused, grace=grace_s, dry_run=dry_run)
    for p, why in removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {p} ({why})")
    click.echo(f"{len(removed)} files {'to remove' if dry_run else 'removed'}", err=True)


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


from ._cli_audit import audit  # noqa: E402  (its own module; imports no torch)

cli.add_command(audit)


def main() -> None:
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
