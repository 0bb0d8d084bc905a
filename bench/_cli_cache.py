"""``privbench cache``: inspect and clean the content-addressed model cache."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["cache"]


@click.group()
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
