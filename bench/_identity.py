"""A cell's identity beyond its names: what decides its numbers, hashed into its run id and listed in provenance.

Resolved parameters (defaults included) of the track, the attack and the defense; each plugin's distribution,
that distribution's version and the plugin's own ``version``; the harness's version and source digest; the pool
design (models, targets). Editing a plugin (and bumping its version) or the harness gives new run ids, so a
re-run recomputes those cells instead of reusing stale records.
"""

from __future__ import annotations

from typing import Any

from ._api import PluginError

__all__ = ["cell_identity", "plugin_provenance"]


def cell_identity(session: Any, cell: Any) -> dict[str, Any]:
    from ._plan import harness_version

    track = session.track(cell.track)[0]

    def plugin(kind: str, name: str, params: Any) -> dict[str, Any]:
        try:
            info = session.registry.get(kind, name).plugin
            obj = getattr(session.registry, kind[:-1])(name, **params)
            return {"params": dict(obj.params), "version": obj.version, "distribution": info.distribution, "dist_version": info.version}
        except Exception as exc:  # the cell will fail and say why; its id still names what was asked
            return {"params": dict(params), "error": type(exc).__name__}

    ident = {
        "harness": harness_version(),
        "track_params": dict(getattr(track, "params", {}) or {}),
        "attack": plugin("attacks", cell.attack, cell.attack_params),
        "defense": plugin("defenses", cell.defense, cell.defense_params),
    }
    if session.uses_pool(track) and cell.budget in track.budgets:
        ident["design"] = {"models": track.budgets[cell.budget].models, "targets": session.n_targets(cell)}
    return ident


def plugin_provenance(session: Any, cell: Any, track: Any, ident: dict[str, Any] | None = None) -> dict[str, Any]:
    """Distribution, distribution version and plugin version of the cell's track, attack and defense
    (from the cell's identity, computed once by the caller where it has it)."""
    ident = ident if ident is not None else cell_identity(session, cell)
    out = {k: {x: ident[k].get(x) for x in ("distribution", "dist_version", "version")} for k in ("attack", "defense")}
    try:
        info = session.registry.get("tracks", cell.track).plugin
        out["track"] = {"distribution": info.distribution, "dist_version": info.version, "version": track.version}
    except PluginError:
        pass
    return out
