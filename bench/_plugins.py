"""Plugin discovery: entry points of group ``privbench``, ``--plugin FILE``s, and the registry they fill.

Hooks are called through pluggy, so plugins' hookwrappers run; each plain implementation is guarded, so
a plugin that fails to import or whose hook raises is reported (``broken``) and the others go on. An
implementation of an unknown hook (``register_attack``) is reported as a problem of its plugin, with
the hook it probably meant. Two plugins registering the same name is a conflict naming both: ``run``
and ``list`` refuse it (:meth:`Registry.check`), ``privbench plugins`` shows it. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import inspect
import os
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs
from ._api import Attack, Defense, PluginError, ThreatModel
from ._markers import PROJECT, hookspec
from ._registry import DISABLE_ENV, PluginInfo, Registration, Registry
from ._track import Track

__all__ = ["PluginManager", "Registry", "PluginInfo", "Registration", "load_plugins", "DISABLE_ENV", "HOOK_NAMES"]

GROUP = "privbench"
HOOK_NAMES = tuple(sorted(n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, f"{hookspec.project_name}_spec")))


class PluginManager:
    """Loads plugins, builds the registry and fires event hooks. ``load_plugins()`` is the usual entry."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._modules: dict[str, Any] = {}
        self._calling: PluginInfo | None = None  # whose hook implementation is running (its register() calls)

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.broken]

    def _disabled(self) -> set[str]:
        return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}

    def load_entry_points(self, distributions: Iterable[str] | None = None, names: Iterable[str] | None = None) -> None:
        """Import every installed plugin (``distributions``: only those of these distributions; ``names``: only the
        entry points of these names; an official run imports attack plugins only in its sandbox)."""
        disabled = self._disabled()
        only = None if distributions is None else set(distributions)
        wanted = None if names is None else set(names)
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            if ep.name in disabled or ep.name in self.plugins or wanted is not None and ep.name not in wanted:
                continue
            dist = getattr(ep, "dist", None)
            if only is not None and (dist.metadata["Name"] if dist else None) not in only:
                continue
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
            self.pm.register(module, name=info.name)  # pluggy validates argument names against the specs
        except Exception as exc:
            self._mark_broken(info, exc, "failed to register")
            return
        self._modules[info.name] = module
        for caller in self.pm.get_hookcallers(module) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is module and not (impl.wrapper or impl.hookwrapper):
                    impl.function = self._guarded(info, caller.name, impl.function)
            if caller.spec is None:
                self._problem(info, f"implements unknown hook {caller.name!r}{_did_you_mean(caller.name)}; it is never called")
        for name in HOOK_NAMES:
            if callable(getattr(module, name, None)) and self.pm.parse_hookimpl_opts(module, name) is None:
                self._problem(info, f"defines {name}() without the @bench.hookimpl marker; it is never called")

    def _guarded(self, info: PluginInfo, hook: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """The implementation as pluggy calls it: attributed to its plugin, and an exception stays the plugin's."""

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if info.broken:
                return None
            previous, self._calling = self._calling, info
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                self._failed(info, hook, exc)
                return None
            finally:
                self._calling = previous

        return guarded

    def _failed(self, info: PluginInfo, hook: str, exc: BaseException) -> None:
        if hook.startswith("register_"):
            self._mark_broken(info, exc, f"raised in {hook}")
        else:  # an event hook: reported, the run goes on
            warnings.warn(f"privbench plugin {info.name!r} raised in {hook}: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=4)

    def _problem(self, info: PluginInfo, problem: str) -> None:
        info.problems.append(problem)
        warnings.warn(f"privbench plugin {info.name!r}: {problem}", RuntimeWarning, stacklevel=4)

    def _mark_broken(self, info: PluginInfo, exc: BaseException, what: str) -> None:
        where = f"distribution {info.distribution!r}" if info.distribution else info.source
        info.error = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"privbench plugin {info.name!r} ({where}) {what}: {info.error}", RuntimeWarning, stacklevel=3)
        module = self._modules.get(info.name)
        callers = self.pm.get_hookcallers(module) if module is not None else None
        for caller in callers or []:
            for impl in caller.get_hookimpls():  # its hookwrappers step aside too
                if impl.plugin is module and (impl.wrapper or impl.hookwrapper):
                    impl.function = _step_aside if impl.wrapper else _step_aside_old

    def _call(self, hook: str, kwargs: dict[str, Any], restart: Callable[[], None] = lambda: None) -> None:
        """Call a hook through pluggy, so hookwrappers run; broken plugins are left out.

        Plain implementations are guarded (``_guarded``). A hookwrapper that raises marks its own plugin
        broken and the call is made again without it (``restart`` first forgets the failed call's effects).
        """
        while True:
            try:
                getattr(self.pm.hook, hook)(**kwargs)
                return
            except Exception as exc:
                culprit = self._wrapper_raising(hook, exc)
                if culprit is None:
                    raise
                self._mark_broken(culprit, exc, f"raised in a {hook} hookwrapper")
                restart()

    def _wrapper_raising(self, hook: str, exc: BaseException) -> PluginInfo | None:
        wrappers = {impl.function.__code__: impl.plugin_name for impl in getattr(self.pm.hook, hook).get_hookimpls()
                    if (impl.wrapper or impl.hookwrapper) and hasattr(impl.function, "__code__")}
        tb = exc.__traceback__
        while tb is not None:
            name = wrappers.get(tb.tb_frame.f_code)
            if name is not None and name in self.plugins and not self.plugins[name].broken:
                return self.plugins[name]
            tb = tb.tb_next
        return None

    def registry(self, *, strict: bool = True) -> Registry:
        """Call every plugin's register_* hooks and collect what they register.

        ``strict``: raise :class:`PluginError` on a duplicate name (``run``, ``list``); else the
        conflict is left in ``registry.conflicts`` and in both plugins' ``problems`` (``privbench plugins``).
        """
        staged: list[tuple[PluginInfo, str, str, Any]] = []
        for kind in Registry.KINDS:
            batch: list[tuple[PluginInfo, str, str, Any]] = []

            def register(*args: Any, _kind: str = kind, _batch: list = batch) -> None:
                info = self._calling
                if info is None:
                    raise PluginError(f"register() was called outside a register_{_kind} implementation (a hookwrapper cannot register)")
                _batch.append((info, _kind, *_registration(_kind, args, info)))

            self._call(f"register_{kind}", {"register": register}, restart=batch.clear)
            staged += batch
        reg = Registry(self)
        order = {name: i for i, name in enumerate(self.plugins)}  # pluggy calls the last registered first
        for info, kind, name, obj in sorted(staged, key=lambda item: order.get(item[0].name, len(order))):
            if not info.broken:  # a plugin that raised in any register_* hook registers nothing
                reg.add(kind, name, obj, info)
        return reg.check() if strict else reg

    def call(self, hook: str, **kwargs: Any) -> None:
        """Fire an event hook (``run_started``, ``record_written``); a plugin raising is reported, the run goes on."""
        self._call(hook, kwargs)


def _step_aside(*args: Any) -> Any:
    """A broken plugin's new-style hookwrapper: passes the result through."""
    return (yield)


def _step_aside_old(*args: Any) -> Any:
    """A broken plugin's old-style hookwrapper: passes the outcome through."""
    yield


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, HOOK_NAMES, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _registration(kind: str, args: tuple, info: PluginInfo) -> tuple[str, Any]:
    if kind == "executors":
        return _executor_registration(args, info)
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
    if not obj.name or not isinstance(obj.name, str):
        raise PluginError(f"plugin {info.name!r} registered a {kind[:-1]} without a name: {obj!r}")
    return obj.name, obj


def _executor_registration(args: tuple, info: PluginInfo) -> tuple[str, Any]:
    """``register(ExecutorClass)``, its name a class attribute; the old ``register(name, cls)`` still works, deprecated."""
    if len(args) == 2:
        name, obj = args
        note = "register(name, ExecutorClass) is deprecated: give the class a `name` attribute and call register(ExecutorClass)"
        info.problems.append(note)
        warnings.warn(f"privbench plugin {info.name!r}: {note}", DeprecationWarning, stacklevel=4)
    elif len(args) == 1:
        obj = args[0]
        name = getattr(obj, "name", None)
    else:
        raise PluginError(f"plugin {info.name!r}: register_executors expects register(ExecutorClass), got {len(args)} arguments")
    if not name or not isinstance(name, str):
        raise PluginError(f"plugin {info.name!r} registered an executor without a name: {obj!r} needs a `name` class attribute")
    if not callable(getattr(obj, "map", None)):
        raise PluginError(f"plugin {info.name!r} registered {obj!r} as an executor, but it has no map(job, cells) method (see bench.executors.Executor)")
    return name, obj


def load_plugins(files: Iterable[str | os.PathLike[str]] = (), *, entry_points: bool = True, strict: bool = True,
                 distributions: Iterable[str] | None = None, names: Iterable[str] | None = None) -> tuple[PluginManager, Registry]:
    """Discover installed plugins (and local plugin files) and return the manager and registry.

    ``strict=False`` keeps going on duplicate names (see :meth:`PluginManager.registry`); ``distributions``: import
    only the entry points of these distributions (the attack worker's zygote preloads privbench's own alone);
    ``names``: only the entry points of these names (``bench._describe`` describes one plugin per process)."""
    manager = PluginManager()
    if entry_points:
        manager.load_entry_points(distributions, names)
    for f in files:
        manager.load_file(f)
    return manager, manager.registry(strict=strict)
