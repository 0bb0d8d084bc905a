"""The ``privbench`` command line. Listing commands never import torch."""

from __future__ import annotations

import json
import sys

import click

from ._api import PluginError, Task

__all__ = ["cli", "main"]


from ._cli_common import load_plugins_or_exit as _load, plugin_option


@click.group()
@click.version_option(package_name="privbench")
def cli() -> None:
    """privbench: benchmark privacy attacks and defenses on ML models."""


from ._cli_run import check_sets, exit_status, load_tracks, names as _names, option_names as _option_names, parse_sets as _parse_sets  # noqa: E402


@cli.command()
@click.option("--track", "tracks", default="digits", show_default=True, help="Track name(s), comma-separated (`privbench list tracks`).")
@click.option("--attacks", default="all", show_default=True, help="Attack names, comma-separated, or 'all' (every attack for the track's task).")
@click.option("--defenses", default="none", show_default=True, help="Defense names, comma-separated, or 'all'.")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(1), help="Number of seeds (0..N-1).")
@click.option("--budget", default="smoke", show_default=True, help="Budget tier: smoke, cpu, gpu (as the track defines).")
@click.option("--out", "out_dir", default="runs", show_default=True, type=click.Path(file_okay=False), help="Results folder (results.jsonl, scores/).")
@click.option("--executor", default="local", show_default=True, help="Executor plugin (local, ray, ...).")
@click.option("--slots", type=click.IntRange(1), default=None, help="local executor: parallel device slots (default: one per GPU, else 1). Every process computes on one CPU thread: on a CPU, ask for one slot per core.")
@click.option("--ray-address", default=None, metavar="HOST:PORT", help="ray executor: the cluster's head (default: $RAY_ADDRESS, else a local Ray).")
@click.option("--set", "sets", multiple=True, metavar="NAME.KEY=VALUE",
              help="Override an option of a track, defense or attack of this run (repeatable), e.g. lira.n_shadows=8 or "
                   "cifar10.recipe=airbench; `privbench list tracks|defenses|attacks` shows each one's options and defaults.")
@click.option("--data-dir", type=click.Path(), default=None, help="Local copy of a track's data (e.g. the CIFAR python tarball).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Model cache (default: $PRIVBENCH_CACHE_DIR or ~/.cache/privbench).")
@click.option("--retry-failed", is_flag=True, help="Re-run cells recorded as failed instead of skipping them.")
@click.option("--wide", is_flag=True, help="Print every column of the final table (default: the headline ones, 120 columns at most).")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any cell is not ok (over_budget and timeout too).")
@click.option("--progress/--no-progress", default=True, help="Show progress bars on stderr.")
@click.option("--scenarios/--no-scenarios", default=True, show_default=True,
              help="Also score OOD and neighbour non-members (fpr_ood, fpr_neighbours) for attacks that set a threshold.")
@click.option("--isolation", type=click.Choice(["process", "thread"]), default=None,
              help="Where attacks run: a (sandboxed) worker process (the default), or a thread of the harness "
                   "(plugin development; never for --official).")
@click.option("--sandbox", type=click.Choice(["auto", "bwrap", "nobody", "off"]), default=None,
              help="How the worker is sandboxed (default: $PRIVBENCH_SANDBOX, else the strongest that works here).")
@click.option("--official", is_flag=True, help="Official run: split seed drawn at run time, models from a private cold cache in OUT/.official/.")
@click.option("--targets", type=click.IntRange(1), default=None,
              help="Pool-design tracks: targets per cell, at most the tier's (default), each attacked with the non-target models as shadows.")
@plugin_option
def run(tracks: str, attacks: str, defenses: str, seeds: int, budget: str, out_dir: str, executor: str, slots: int | None, ray_address: str | None, sets: tuple[str, ...],
        data_dir: str | None, device: str | None, cache_dir: str | None, retry_failed: bool, wide: bool, strict: bool, progress: bool,
        scenarios: bool, isolation: str | None, sandbox: str | None, official: bool, targets: int | None, plugin_files: tuple[str, ...]) -> None:
    """Run (or resume) the benchmark grid and print its leaderboard table.

    Exit status: 0 every cell has a result; 1 some cells failed (or --strict and some cell is not ok);
    2 a usage error, nothing ran; 3 nothing ran (a track's data could not be loaded, or every cell failed).
    """
    from ._runner import Plan, Session, run_plan
    from .leaderboard import render

    # official: plugins that register attacks are described in the sandbox, never imported here (bench._official_plugins)
    wanted = {"tracks": _option_names(tracks), "defenses": _option_names(defenses), "executors": [executor]}
    _, registry = _load(plugin_files, official=official, sandbox=sandbox, hide=(out_dir,), wanted=wanted)
    track_names = _names(tracks, "tracks", registry, "--track")
    tasks = {registry.track(t).task for t in track_names}
    attack_names = sorted({a for task in tasks for a in _names(attacks, "attacks", registry, "--attacks", Task(task))})
    if not attack_names:
        raise click.BadParameter(f"no attack supports the task(s) {', '.join(sorted(str(Task(t)) for t in tasks))}"
                                 " (`privbench list attacks` shows each one's tasks)", param_hint="--attacks")
    defense_names = _names(defenses, "defenses", registry, "--defenses", Task(next(iter(tasks))) if len(tasks) == 1 else None)
    if not defense_names:
        raise click.BadParameter("no defense supports this track's task (`privbench list defenses`)", param_hint="--defenses")
    for t in track_names:
        tiers = registry.track(t).budgets
        if budget not in tiers:
            raise click.BadParameter(f"track {t!r} has no budget tier {budget!r}; tiers: {', '.join(tiers)}"
                                     " (`privbench list tracks` shows their limits)", param_hint="--budget")
    params = _parse_sets(sets)
    check_sets(params, registry, {"tracks": track_names, "defenses": defense_names, "attacks": attack_names})
    try:
        ex_cls = registry.get("executors", executor).obj
    except PluginError as exc:
        raise click.BadParameter(str(exc), param_hint="--executor") from None
    plan = Plan(
        tracks=track_names, attacks=attack_names, defenses=defense_names, seeds=list(range(seeds)), budget=budget,
        out_dir=out_dir, params=params, data_dir=data_dir, device=device, cache_dir=cache_dir,
        plugin_files=list(plugin_files), retry_failed=retry_failed, progress=progress, scenarios=scenarios,
        isolation=isolation or "process", sandbox=sandbox, official=official, targets=targets,
    )
    if official and (isolation == "thread" or cache_dir):
        raise click.BadParameter("an official run trains from its own cold cache in worker processes: drop --isolation thread and --cache-dir", param_hint="--official")
    session = Session(plan, registry=registry)  # the registry carries its manager: event hooks fire
    if executor == "local":
        session.start_workers()
    load_tracks(session, track_names, data_dir)
    options = {k: v for k, v in {"slots": slots, "address": ray_address}.items() if v is not None}
    records = run_plan(plan, session=session, executor=ex_cls(**options))
    click.echo(render(records, "md", wide=wide))
    for r in records:
        if not r.ok:
            first = r.error.splitlines()[0] if r.error else ""
            click.secho(f"{r.label()}: {r.status}: {first}", fg="red", err=True)
    click.echo(f"{sum(r.ok for r in records)}/{len(records)} cells ok; results in {out_dir}/results.jsonl", err=True)
    status, why = exit_status(records, strict)
    if status:
        click.secho(why, fg="red", err=True)
        sys.exit(status)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@plugin_option
def plugins(as_json: bool, plugin_files: tuple[str, ...]) -> None:
    """Installed plugins: distribution, version, what each registers, broken ones with their error."""
    manager, _ = _load(plugin_files, strict=False)  # a name conflict is shown here, not fatal: this is where one finds it
    infos = [p.as_dict() for p in manager.plugins.values()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    from tabulate import tabulate

    rows = []
    for p in infos:
        what = "; ".join([f"{k}: {', '.join(v)}" for k, v in p["registers"].items() if v] + [f"PROBLEM: {x}" for x in p["problems"]])
        rows.append([p["name"], p["distribution"] or p["source"], p["version"] or "", "BROKEN: " + p["error"] if p["broken"] else what])
    click.echo(tabulate(rows, headers=["plugin", "distribution", "version", "registers"], tablefmt="simple"))


from ._cli_cache import cache  # noqa: E402  (command modules register on the group defined above)
from ._cli_leaderboard import frontier, leaderboard  # noqa: E402
from ._cli_list import list_  # noqa: E402
from ._cli_report import report  # noqa: E402

for _command in (list_, leaderboard, cache, frontier, report):
    cli.add_command(_command)


from ._cli_audit import audit  # noqa: E402  (its own module; imports no torch)

cli.add_command(audit)


def main() -> None:
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
