"""``privbench report RUN_DIR``: the HTML report of a run folder (:mod:`bench.report`). Imports no torch."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report"]


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help="Report folder (default: RUN_DIR/report).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Exposed examples listed per defense.")
def report(run_dir: str, out_dir: str | None, top: int) -> None:
    """Write an HTML report of a run: log–log ROCs with bands, score histograms, exposed examples, the frontier."""
    from ._record import RecordError
    from .report import build_report

    if not Path(run_dir).is_dir():
        raise click.ClickException(f"{run_dir} is not a run folder; give the --out folder of a `privbench run`")
    try:
        page = build_report(run_dir, out_dir, top=top, progress=lambda line: click.echo(line, err=True))
    except (FileNotFoundError, RecordError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {page}")
