"""What the command modules share: loading plugins with warnings shown, and the ``--plugin`` option."""

from __future__ import annotations

import warnings
from typing import Any

import click

from ._api import PluginError

__all__ = ["load_plugins_or_exit", "plugin_option"]


def load_plugins_or_exit(plugin_files: tuple[str, ...], strict: bool = True, *, official: bool = False, sandbox: str | None = None,
                         hide: tuple[str, ...] = (), wanted: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(manager, registry) of the installed plugins and ``plugin_files``; a fatal plugin error exits with its message.

    ``strict=False`` (``privbench plugins``) reports a name two plugins register instead of refusing it. ``official``:
    an official run's registry (``bench._official_plugins``): attack plugins are described in the sandbox (``sandbox``,
    hiding ``hide``), never imported here, nor any plugin that provides no track, defense or executor in ``wanted``."""
    from ._plugins import load_plugins

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            if official:
                from ._official_plugins import official_registry

                manager, registry = official_registry(plugin_files, sandbox=sandbox, hide=hide, wanted=wanted)
            else:
                manager, registry = load_plugins(plugin_files, strict=strict)
        except PluginError as exc:
            raise click.ClickException(str(exc)) from None
    for w in caught:
        click.secho(f"warning: {w.message}", fg="yellow", err=True)
    return manager, registry


plugin_option = click.option(
    "--plugin", "plugin_files", multiple=True, type=click.Path(dir_okay=False),
    help="Register a local plugin file (repeatable), without packaging it.",
)
