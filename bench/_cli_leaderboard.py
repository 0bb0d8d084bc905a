"""``privbench leaderboard`` (table, submit, build, verify) and ``privbench frontier``: the views and publishing."""

from __future__ import annotations

import sys

import click

from ._cli_common import load_plugins_or_exit as _load, plugin_option

__all__ = ["leaderboard", "frontier", "read_results", "require_root"]


def require_root(root: str) -> None:
    """Refuse a leaderboards folder that does not exist (run outside the repository, say) instead of making one."""
    from pathlib import Path

    if not Path(root).is_dir():
        raise click.ClickException(
            f"no leaderboards folder at {Path(root).resolve()}: run this from the privbench repository's root,"
            " or pass --root PATH (the folder holding <track>/<budget>/ entries)")


def read_results(results: tuple[str, ...], root: str | None = None) -> list:
    """The records of results files or run folders (none given: the published entries under ``root``).

    A record this privbench cannot read (an unknown schema version, say) ends the command with its message.
    """
    from ._record import RecordError
    from ._records import iter_jsonl
    from .site import entry_records

    try:
        return list(iter_jsonl(results)) if results or root is None else [r for r, _ in entry_records(root)]
    except RecordError as exc:
        raise click.ClickException(str(exc)) from None


class _LeaderboardGroup(click.Group):
    """``privbench leaderboard [RESULTS…]`` renders a table; ``submit``/``build``/``verify`` are subcommands.

    Arguments that do not start with a subcommand name go to the ``table`` command, so the plain form of
    DESIGN.md keeps working (a results folder literally named ``build`` is reached as ``./build``).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["table", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_LeaderboardGroup)
def leaderboard() -> None:
    """Leaderboard tables, and publishing results to leaderboards/ (submit, build, verify)."""


@leaderboard.command("table")
@click.argument("results", nargs=-1, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json", "html"]), default="md", show_default=True)
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False), help="Published entries, used when no RESULTS are given.")
@click.option("--by", "by", type=click.Choice(["attack", "defense"]), default="attack", show_default=True,
              help="attack: one row per (defense, attack); defense: per defense, its strongest attack and utility cost.")
@click.option("--wide", is_flag=True, help="md: every column (default: the headline ones, 120 columns at most).")
def leaderboard_table(results: tuple[str, ...], fmt: str, root: str, by: str, wide: bool) -> None:
    """Table from results.jsonl files or run folders; none given: the published entries.

    One seed shows its value with its 95% interval; several show the mean ± std over seeds.
    """
    from .leaderboard import render, render_by_defense

    if not results:
        require_root(root)
    records = read_results(results, root)
    if not records:
        raise click.ClickException(f"no records in {', '.join(results) or root}: give results.jsonl files or run folders")
    if by == "defense":
        if fmt == "html":
            raise click.BadParameter("--by defense renders md, csv or json", param_hint="--format")
        click.echo(render_by_defense(records, fmt))
        return
    click.echo(render(records, fmt, wide=wide))


@leaderboard.command("submit")
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--title", default=None, help="Submission title (shown in the tables).")
@click.option("--paper", default=None, help="Paper URL (http or https).")
@click.option("--code", default=None, help="Code URL (http or https).")
@click.option("--supersedes", multiple=True, metavar="ID", help="Submission id this one replaces in the rankings (kept on disk; repeatable).")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False), help="Leaderboards folder.")
@click.option("--skip-invalid", is_flag=True, help="Publish the valid records even if others are refused.")
@plugin_option
def leaderboard_submit(results: tuple[str, ...], title: str | None, paper: str | None, code: str | None, supersedes: tuple[str, ...],
                       root: str, skip_invalid: bool, plugin_files: tuple[str, ...]) -> None:
    """Validate result records, recompute their metrics, and write one submission file per track and budget
    under ROOT/<track>/<budget>/<submission id>.jsonl (never replacing another)."""
    from .publish import submit

    _, registry = _load(plugin_files)
    sub = submit(results, root, title=title, paper=paper, code=code, supersedes=supersedes, registry=registry, skip_invalid=skip_invalid)
    for p in sub.problems:
        click.secho(f"refused: {p}", fg="red", err=True)
    for note in sub.notes:
        click.echo(f"note: {note}", err=True)
    for sid, path in zip(sub.ids, sub.written):
        click.echo(f"wrote submission {sid}: {path}")
    if sub.problems and not skip_invalid:
        raise click.ClickException(f"{len(sub.problems)} problem(s); nothing was written")
    click.echo(f"{len(sub.written)} submission(s) written; run `privbench leaderboard build` to update the tables", err=True)
    if sub.problems or not sub.written:
        sys.exit(1)


@leaderboard.command("build")
@click.option("--root", default="leaderboards", show_default=True, type=click.Path(file_okay=False), help="Leaderboards folder.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help="Site folder (default: ROOT/site).")
@click.option("--check", is_flag=True, help="Only check that ROOT/README.md is up to date with the entries, that every "
              "submission file passes submit's checks and that the site builds (in a temporary folder); exit 1 if not.")
def leaderboard_build(root: str, out_dir: str | None, check: bool) -> None:
    """Regenerate ROOT/README.md (one table per track, budget and threat model) and the static site.

    Every submission file is checked as submit checks it (less the scores): a file that fails is left off the boards
    and reported; --check then exits 1."""
    from pathlib import Path

    from ._io import atomic_write_text
    from .site import README, build_site, check_readme, published

    require_root(root)
    items, refused = published(root)
    for r in refused:
        click.secho(f"refused: {r}", fg="red", err=True)
    if refused:
        click.secho(f"{len({r.path for r in refused})} file(s) left off the boards: fix or remove them, or re-submit the runs "
                    "with `privbench leaderboard submit` (which checks and recomputes every number)", fg="red", err=True)
    ok, want = check_readme(root, items)
    if check:
        if not ok:
            raise click.ClickException(f"{Path(root) / README} is stale: run `privbench leaderboard build` and commit the result")
        if refused:
            raise click.ClickException(f"{len({r.path for r in refused})} published file(s) refused (above)")
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:  # the site too: a label once stopped it while the README was fine
            try:
                build_site(items, tmp, progress=lambda line: None)
            except Exception as exc:
                raise click.ClickException(f"the site cannot be built from these entries: {type(exc).__name__}: {exc}") from exc
        click.echo(f"{Path(root) / README} is up to date and the site builds")
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(root) / README, want)
    index = build_site(items, out_dir or Path(root) / "site", progress=lambda line: click.echo(line, err=True))
    click.echo(f"wrote {Path(root) / README} and {index}")


@leaderboard.command("verify")
@click.argument("submission", type=click.Path(exists=True, dir_okay=False))
@click.option("--cell", "cells", multiple=True, metavar="RUN_ID", help="Verify the cell whose run id starts so (repeatable; default: every cell).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Keep the official re-runs (records, private cold cache) here, each in a fresh subfolder (default: a temporary folder, removed after).")
@click.option("--sandbox", type=click.Choice(["auto", "bwrap", "nobody", "off"]), default=None, help="How the attack's worker is sandboxed.")
@click.option("--progress/--no-progress", default=False, help="Show training progress bars.")
@plugin_option
def leaderboard_verify(submission: str, cells: tuple[str, ...], device: str, work_dir: str | None, sandbox: str | None, progress: bool,
                       plugin_files: tuple[str, ...]) -> None:
    """Re-run cells of a submission from scratch on a fresh split (an official run) and write a verification file
    beside it; exit 1 unless every cell agrees within the entry's intervals."""
    from ._submission import read_submission
    from .verify import submission_wanted, verify_submission

    # an official run: plugins that register attacks are described in the sandbox, never imported here (nor any plugin
    # providing no track or defense of the submission's cells)
    try:
        wanted = submission_wanted(read_submission(submission))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _, registry = _load(plugin_files, official=True, sandbox=sandbox, hide=(work_dir,) if work_dir else (), wanted=wanted)
    try:
        results = verify_submission(submission, cells=cells, device=device, registry=registry, work_dir=work_dir, sandbox=sandbox,
                                    plugin_files=plugin_files, progress=progress)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for res in results:
        click.echo(f"{res['cell']} ({res['run_id'][:12]}), re-run in {res['wall_seconds']:.0f} s:")
        for key, m in res["agreement"]["metrics"].items():
            ci = lambda side: f" {[round(x, 4) for x in m[side]]}" if m.get(side) else ""  # noqa: E731
            click.echo(f"{key:>14}: published {m['published']}{ci('published_interval')}, reproduced {m['reproduced']}"
                       f"{ci('reproduced_interval')} {'overlap' if m['agree'] else 'DIFFERS'}")
        if res.get("error"):
            click.secho(f"  {res['error']}", fg="red", err=True)
        click.echo(f"  {'agrees' if res['agree'] else 'does NOT agree'}; verification written to {res['file']}")
    if not all(r["agree"] for r in results):
        sys.exit(1)


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--attack", default=None, help="Plot this attack (default: the strongest attack against each defense).")
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False), help="Write the plot here (.png or .svg).")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True, help="Table format.")
def frontier(results: tuple[str, ...], attack: str | None, out_file: str | None, fmt: str) -> None:
    """Privacy–utility frontier: test accuracy against attack TPR@0.1%FPR and AUC, per defense (table; plot with --out)."""
    from .frontier import frontier_rows, plot, render_table

    rows = frontier_rows(read_results(results), attack=attack)
    if not rows:
        raise click.ClickException(f"no ok membership results{f' for attack {attack!r}' if attack else ''} in {', '.join(results)}")
    click.echo(render_table(rows, fmt))
    if out_file:
        plot(rows, out_file)
        click.echo(f"frontier plot written to {out_file}", err=True)
