"""``privbench list attacks|defenses|tracks``: what is registered, with its options and (tracks) budget limits.

Option values print as JSON, the form ``--set NAME.KEY=VALUE`` reads. No torch here.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ._cli_common import load_plugins_or_exit as _load, plugin_option

__all__ = ["list_", "option_lines", "budget_lines"]

_VALUE_WIDTH = 32  # an option's value is cut here in the table (--json has it whole)


def option_lines(params: dict[str, Any]) -> str:
    """One ``key=value`` line per option (value as JSON, long ones cut); a dash for none."""
    lines = []
    for key, value in params.items():
        text = json.dumps(value, ensure_ascii=False, default=str)
        lines.append(f"{key}={text if len(text) <= _VALUE_WIDTH else text[:_VALUE_WIDTH - 1] + '…'}")
    return "\n".join(lines) or "—"


def budget_lines(limits: dict[str, dict[str, Any]]) -> str:
    """One line per budget tier: shadow models, target queries per candidate, device-seconds."""
    return "\n".join(f"{tier}: {lim['max_shadows']} / {lim['queries_per_candidate']:g} / {lim['device_seconds']:g} s"
                     for tier, lim in limits.items())


def _items(kind: str, registry: Any) -> list[dict[str, Any]]:
    items = registry.describe(kind)
    if kind == "tracks":  # options and each tier's limits, beside the tier names describe() gives
        for d in items:
            track = registry.track(d["name"])
            d["params"] = dict(track.params)
            d["limits"] = {tier: budget.limits() for tier, budget in track.budgets.items()}
    return items


@click.command("list")
@click.argument("kind", type=click.Choice(["attacks", "defenses", "tracks"]))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (every field, values whole).")
@plugin_option
def list_(kind: str, as_json: bool, plugin_files: tuple[str, ...]) -> None:
    """List registered attacks, defenses or tracks, with their options (set with --set NAME.KEY=VALUE).

    Tracks also show their budget tiers: shadow models / target queries per candidate / device-seconds.
    """
    _, registry = _load(plugin_files)
    items = _items(kind, registry)
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    from tabulate import tabulate

    if kind == "tracks":
        headers = ["name", "task", "budgets: shadows / queries per candidate / device-s", "options", "plugin"]
        rows = [[d["name"], d["task"], budget_lines(d["limits"]), option_lines(d["params"]), d["plugin"]] for d in items]
    else:
        headers = ["name"] + (["threat model"] if kind == "attacks" else []) + ["tasks", "options", "plugin"]
        rows = [[d["name"], *([d["threat_model"]] if kind == "attacks" else []), "\n".join(d["tasks"]), option_lines(d["params"]), d["plugin"]]
                for d in items]
    click.echo(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    click.echo(f"\n{len(items)} {kind}; set an option with --set NAME.KEY=VALUE; --json gives every field", err=True)
