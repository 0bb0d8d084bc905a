"""What ``privbench run`` checks before anything trains, and how it ends: names, ``--set``, data, exit status.

Exit status of ``privbench run`` (contract, README "Exit status"):
0 every cell has a result (``ok``; ``over_budget`` and ``timeout`` are results too unless ``--strict``);
1 some cells ``failed`` (the others' results are written), or ``--strict`` and some cell is not ``ok``;
2 a usage error found before anything ran (an unknown name, option or ``--set`` key);
3 nothing ran: a track's data could not be loaded, or every cell failed.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

import click

from ._api import PluginError, Task

__all__ = ["NothingRan", "SET_EXAMPLE", "names", "option_names", "parse_sets", "check_sets", "load_tracks", "exit_status"]

# A real parameter of a first-party attack (a test checks it stays one): error messages never suggest a made-up one.
SET_EXAMPLE = "lira.n_shadows=8"


class NothingRan(click.ClickException):
    """Nothing could run: exits 3, so a script tells it from cells that ran and failed (1)."""

    exit_code = 3


def names(value: str, kind: str, registry: Any, option: str, task: Task | None = None) -> list[str]:
    """The names a comma-separated option gives (``all``: every registered one, of ``task`` if given)."""
    if value == "all":
        found = registry.names(kind)
        if task is not None:
            found = [n for n in found if Task(task) in {Task(t) for t in registry.get(kind, n).obj.tasks}]
        return found
    found = option_names(value) or []
    if not found:
        raise click.BadParameter(f"no {kind} named; give names separated by commas, or 'all'", param_hint=option)
    for n in found:
        try:
            registry.get(kind, n)
        except PluginError as exc:
            raise click.BadParameter(f"{exc} (`privbench list {kind}` describes them)", param_hint=option) from None
    return found


def option_names(value: str) -> list[str] | None:
    """The names a comma-separated option gives, without a registry (None: ``all``)."""
    return None if value == "all" else [n.strip() for n in value.split(",") if n.strip()]


def parse_sets(sets: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``NAME.KEY=VALUE`` overrides by name; a VALUE that parses as JSON is that value, else the string."""
    out: dict[str, dict[str, Any]] = {}
    for s in sets:
        name_key, eq, raw = s.partition("=")
        name, dot, key = name_key.partition(".")
        if not (eq and dot and name and key):
            raise click.BadParameter(f"{s!r} is not NAME.KEY=VALUE (e.g. {SET_EXAMPLE})", param_hint="--set")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(name, {})[key] = value
    return out


def check_sets(params: Mapping[str, Mapping[str, Any]], registry: Any, grid: Mapping[str, list[str]]) -> None:
    """Refuse a ``--set`` whose NAME is not in this run's grid or whose KEY is not one of its options
    (``bench._plan.check_params``, the one rule, shared with the Python API)."""
    from ._plan import Plan, check_params

    plan = Plan(tracks=list(grid.get("tracks", [])), attacks=list(grid.get("attacks", [])), defenses=list(grid.get("defenses", [])),
                seeds=[0], params={k: dict(v) for k, v in params.items()})
    problems = check_params(plan, registry)
    if problems:
        raise click.BadParameter("; ".join(problems) + " (`privbench list tracks|attacks|defenses` shows the options with their defaults)",
                                 param_hint="--set")


def load_tracks(session: Any, tracks: Iterable[str], data_dir: str | None) -> None:
    """Load every track's data before anything trains; one that cannot load ends the command saying what to do."""
    for name in tracks:
        try:
            session.track(name)
        except Exception as exc:
            track = session.registry.track(name)
            reads = f"\n  it reads: {track.description}" if track.description else ""
            hint = (f"check that --data-dir {data_dir} holds this track's data" if data_dir else
                    "offline, or the data lives elsewhere? Pass --data-dir DIR with a local copy")
            raise NothingRan(f"track {name!r} could not load its data: {type(exc).__name__}: {exc}{reads}\n  {hint}; nothing was run") from None


def exit_status(records: list[Any], strict: bool) -> tuple[int, str]:
    """The exit status of a finished run (module docstring) and the line that explains a non-zero one."""
    failed = [r for r in records if r.status == "failed"]
    if records and len(failed) == len(records):
        return 3, f"nothing ran: all {len(records)} cells failed (errors above); fix the cause and re-run with --retry-failed"
    if failed:
        return 1, f"{len(failed)} of {len(records)} cells failed (errors above); the others' results are kept: re-run with --retry-failed"
    not_ok = [r for r in records if not r.ok]
    if strict and not_ok:
        return 1, f"--strict: {len(not_ok)} of {len(records)} cells are not ok ({', '.join(sorted({r.status for r in not_ok}))})"
    return 0, ""
