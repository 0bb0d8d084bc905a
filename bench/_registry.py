"""The registry: what plugins registered, by kind and name, and the plugin each came from.

Filled by :class:`bench._plugins.PluginManager`; read by the CLI, the runner and publishing. No torch here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._api import Attack, Defense, PluginError, ThreatModel
from ._track import Track

if TYPE_CHECKING:
    from ._plugins import PluginManager

__all__ = ["PluginInfo", "Registration", "Registry", "DISABLE_ENV"]

DISABLE_ENV = "PRIVBENCH_DISABLE_PLUGINS"


@dataclass
class PluginInfo:
    name: str
    distribution: str | None = None
    version: str | None = None
    source: str = "entry-point"  # entry-point | file
    error: str | None = None
    registers: dict[str, list[str]] = field(default_factory=lambda: {"attacks": [], "defenses": [], "tracks": [], "executors": []})
    problems: list[str] = field(default_factory=list)  # not fatal: unknown hook names, name conflicts, deprecated calls

    @property
    def broken(self) -> bool:
        return self.error is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "registers": self.registers,
            "broken": self.broken,
            "error": self.error,
            "problems": list(self.problems),
        }


@dataclass
class Registration:
    """One registered attack/defense/track/executor and the plugin it came from."""

    name: str
    obj: Any
    plugin: PluginInfo


class Registry:
    """What plugins registered, by kind and name, and the manager whose event hooks a run fires."""

    KINDS = ("attacks", "defenses", "tracks", "executors")

    def __init__(self, manager: "PluginManager | None" = None) -> None:
        self._items: dict[str, dict[str, Registration]] = {k: {} for k in self.KINDS}
        self.manager = manager
        self.conflicts: list[str] = []  # duplicate names, each naming both plugins; the first registration is kept

    def add(self, kind: str, name: str, obj: Any, plugin: PluginInfo) -> None:
        if not name or not isinstance(name, str):
            raise PluginError(f"plugin {plugin.name!r} registered a {kind[:-1]} without a name: {obj!r}")
        plugin.registers[kind].append(name)
        existing = self._items[kind].get(name)
        if existing is None:
            self._items[kind][name] = Registration(name, obj, plugin)
            return
        conflict = (
            f"duplicate {kind[:-1]} name {name!r}: registered by plugin {existing.plugin.name!r}"
            f" ({existing.plugin.distribution or existing.plugin.source}) and by plugin {plugin.name!r}"
            f" ({plugin.distribution or plugin.source}); disable one with {DISABLE_ENV}"
        )
        self.conflicts.append(conflict)
        for info in {id(p): p for p in (existing.plugin, plugin)}.values():
            info.problems.append(conflict)

    def check(self) -> "Registry":
        """Refuse a registry with name conflicts (what ``run`` and ``list`` do); returns itself."""
        if self.conflicts:
            raise PluginError("; ".join(self.conflicts))
        return self

    def names(self, kind: str) -> list[str]:
        return sorted(self._items[kind])

    def get(self, kind: str, name: str) -> Registration:
        try:
            return self._items[kind][name]
        except KeyError:
            known = ", ".join(self.names(kind)) or "none"
            raise PluginError(f"unknown {kind[:-1]} {name!r}; known {kind}: {known}") from None

    def items(self, kind: str) -> list[Registration]:
        return [self._items[kind][n] for n in self.names(kind)]

    # convenience constructors
    def attack(self, name: str, **params: Any) -> Attack:
        return self.get("attacks", name).obj(**params)

    def defense(self, name: str, **params: Any) -> Defense:
        return self.get("defenses", name).obj(**params)

    def track(self, name: str) -> Track:
        obj = self.get("tracks", name).obj
        return obj() if inspect.isclass(obj) else obj

    def describe(self, kind: str) -> list[dict[str, Any]]:
        out = []
        for reg in self.items(kind):
            d: dict[str, Any] = {"name": reg.name, "plugin": reg.plugin.name, "distribution": reg.plugin.distribution}
            obj = reg.obj
            if kind == "attacks":
                d["threat_model"] = ThreatModel(obj.threat_model).label
                d["tasks"] = [str(t.value if hasattr(t, "value") else t) for t in obj.tasks]
                d["params"] = dict(obj.params)
            elif kind == "defenses":
                d["tasks"] = [str(t.value if hasattr(t, "value") else t) for t in obj.tasks]
                d["params"] = dict(obj.params)
            elif kind == "tracks":
                track = obj() if inspect.isclass(obj) else obj
                d.update({k: v for k, v in track.describe().items() if k != "name"})
            out.append(d)
        return out
