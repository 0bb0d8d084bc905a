"""Plugin discovery: entry points of group ``privbench``, ``--plugin FILE``s, and the registry they fill.

A plugin that fails to import or whose hook raises is reported (``broken``), never fatal. Two plugins
registering the same name is an error naming both. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable

import pluggy

from . import hookspecs
from ._api import Attack, Defense, PluginError, ThreatModel
from ._markers import PROJECT
from ._track import Track

__all__ = ["PluginManager", "Registry", "PluginInfo", "Registration", "load_plugins", "DISABLE_ENV"]

DISABLE_ENV = "PRIVBENCH_DISABLE_PLUGINS"
GROUP = "privbench"


@dataclass
class PluginInfo:
    name: str
    distribution: str | None = None
    version: str | None = None
    source: str = "entry-point"  # entry-point | file
    error: str | None = None
    registers: dict[str, list[str]] = field(default_factory=lambda: {"attacks": [], "defenses": [], "tracks": [], "executors": []})

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
        }


@dataclass
class Registration:
    """One registered attack/defense/track/executor and the plugin it came from."""

    name: str
    obj: Any
    plugin: PluginInfo


class Registry:
    """What plugins registered, by kind and name."""

    KINDS = ("attacks", "defenses", "tracks", "executors")

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Registration]] = {k: {} for k in self.KINDS}

    def add(self, kind: str, name: str, obj: Any, plugin: PluginInfo) -> None:
        if not name or not isinstance(name, str):
            raise PluginError(f"plugin {plugin.name!r} registered a {kind[:-1]} without a name: {obj!r}")
        existing = self._items[kind].get(name)
        if existing is not None:
            raise PluginError(
                f"duplicate {kind[:-1]} name {name!r}: registered by plugin {existing.plugin.name!r}"
                f" ({existing.plugin.distribution or existing.plugin.source}) and by plugin {plugin.name!r}"
                f" ({plugin.distribution or plugin.source})"
            )
        self._items[kind][name] = Registration(name, obj, plugin)
        plugin.registers[kind].append(name)

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


class PluginManager:
    """Loads plugins and builds the registry. ``load_plugins()`` is the usual entry."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._modules: dict[str, Any] = {}

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.broken]

    def _disabled(self) -> set[str]:
        return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}

    def load_entry_points(self) -> None:
        disabled = self._disabled()
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if ep.name in disabled or ep.name in self.plugins:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.metadata["Name"] if dist else None, dist.version if dist else None)
            self.plugins[ep.name] = info
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin is reported, not fatal
                self._mark_broken(info, exc, "failed to import")
                continue
            self._register_module(info, module)

    def load_file(self, path: str | os.PathLike[str]) -> PluginInfo:
        """Register a local ``.py`` file as a plugin (``--plugin FILE``)."""
        p = Path(path)
        info = PluginInfo(p.stem, None, None, source=f"file:{p}")
        if p.stem in self._disabled():
            return info
        if p.stem in self.plugins:
            raise PluginError(f"plugin file {p} has the same name as the already loaded plugin {p.stem!r}")
        self.plugins[p.stem] = info
        if not p.is_file():
            self._mark_broken(info, FileNotFoundError(f"no such plugin file: {p}"), "failed to load")
            return info
        spec = importlib.util.spec_from_file_location(f"privbench_plugin_{p.stem}", p)
        try:
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[spec.name] = module  # type: ignore[union-attr]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:
            self._mark_broken(info, exc, "failed to import")
            return info
        self._register_module(info, module)
        return info

    def register_module(self, name: str, module: Any, distribution: str | None = None) -> PluginInfo:
        """Register an already imported module or object as a plugin (tests use this for throwaway plugins)."""
        info = PluginInfo(name, distribution, None, source="object")
        self.plugins[name] = info
        self._register_module(info, module)
        return info

    def _register_module(self, info: PluginInfo, module: Any) -> None:
        try:
            self.pm.register(module, name=info.name)
            self._modules[info.name] = module
        except Exception as exc:
            self._mark_broken(info, exc, "failed to register")

    def _mark_broken(self, info: PluginInfo, exc: BaseException, what: str) -> None:
        where = f"distribution {info.distribution!r}" if info.distribution else info.source
        info.error = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"privbench plugin {info.name!r} ({where}) {what}: {info.error}", RuntimeWarning, stacklevel=3)

    def registry(self) -> Registry:
        """Call every plugin's register_* hooks, each guarded, and collect the results."""
        reg = Registry()
        for kind in Registry.KINDS:
            hook = getattr(self.pm.hook, f"register_{kind}")
            for impl in hook.get_hookimpls():
                info = self.plugins.get(impl.plugin_name) or PluginInfo(impl.plugin_name)
                if info.broken:
                    continue
                staged: list[tuple[str, Any]] = []

                def register(*args: Any, _kind: str = kind, _staged: list = staged) -> None:
                    _staged.append(_registration(_kind, args, info))

                try:
                    impl.function(register=register)
                except Exception as exc:
                    self._mark_broken(info, exc, f"raised in register_{kind}")
                    continue
                for name, obj in staged:
                    reg.add(kind, name, obj, info)
        return reg

    def call(self, hook: str, **kwargs: Any) -> None:
        """Call an event hook; a plugin raising here is reported, the run goes on."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:
                warnings.warn(f"privbench plugin {impl.plugin_name!r} raised in {hook}: {type(exc).__name__}: {exc}", RuntimeWarning)


def _registration(kind: str, args: tuple, info: PluginInfo) -> tuple[str, Any]:
    if kind == "executors":
        if len(args) != 2:
            raise PluginError(f"plugin {info.name!r}: register_executors expects register(name, ExecutorClass)")
        return args[0], args[1]
    if len(args) != 1:
        raise PluginError(f"plugin {info.name!r}: register_{kind} expects register(obj), got {len(args)} arguments")
    obj = args[0]
    base = {"attacks": Attack, "defenses": Defense, "tracks": Track}[kind]
    cls = obj if inspect.isclass(obj) else type(obj)
    if not issubclass(cls, base):
        raise PluginError(f"plugin {info.name!r} registered {obj!r} as a {kind[:-1]}, but it is not a bench.{base.__name__}")
    if kind == "attacks":
        try:
            ThreatModel(obj.threat_model)
        except ValueError:
            raise PluginError(f"plugin {info.name!r}: attack {obj.name!r} has an invalid threat_model {obj.threat_model!r}") from None
    return obj.name, obj


def load_plugins(files: Iterable[str | os.PathLike[str]] = (), *, entry_points: bool = True) -> tuple[PluginManager, Registry]:
    """Discover installed plugins (and local plugin files) and return the manager and registry."""
    manager = PluginManager()
    if entry_points:
        manager.load_entry_points()
    for f in files:
        manager.load_file(f)
    return manager, manager.registry()
