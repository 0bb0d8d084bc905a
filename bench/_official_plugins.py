"""The registry of an official run: no plugin that registers an attack is ever imported in the harness process.

``official_registry(files, wanted=...)`` imports in the harness privbench's own plugins and the third-party plugins
(entry points or files) that register no attack, whose distribution registers no attack, and that provide a track,
defense or executor the run uses (``wanted``): those train and serve the target, trusted code by nature. A plugin
that provides nothing the run uses (event hooks only, or a track it does not run) is not imported at all: its module
code would run next to the split. Every other third-party plugin is described in the sandbox (:mod:`bench._describe`) and its attacks
enter the registry as stubs (:class:`AttackStub`): the described class attributes, the described
:class:`PluginInfo` (its distribution and version read here, from the package metadata) and the real class's
import path, which the worker uses (``bench._worker.class_ref``). The tracks, defenses and executors of such a
plugin are withheld: asking for one is refused before anything trains, naming the plugin. Its event hooks are
never fired.
"""

from __future__ import annotations

import os
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

from ._api import Attack, PluginError
from ._describe import AttackDescription, PluginDescription, describe_plugins
from ._plugins import GROUP, PluginManager
from ._registry import DISABLE_ENV, PluginInfo, Registry
from ._zygote import FIRST_PARTY  # privbench's own: the harness imports them without describing them

__all__ = ["official_registry", "AttackStub", "OfficialRegistry", "check_official", "FIRST_PARTY"]


class AttackStub(Attack):
    """An attack of a plugin the harness never imports: what the sandbox described; ``score`` runs in the worker."""

    _class_ref: ClassVar[dict[str, Any]] = {}  # module, qualname, file of the real class (bench._worker.class_ref)
    _error: ClassVar[str | None] = None  # building the real attack with its defaults raised this in the sandbox

    def __init__(self, **overrides: Any):
        if self._error:
            raise PluginError(f"attack {self.name!r} could not be built in the sandbox: {self._error}")
        super().__init__(**overrides)
        self._overrides = dict(overrides)  # the worker builds the real class from these (its own defaults, its own types)

    def score(self, ctx: Any) -> Any:
        raise PluginError(f"attack {self.name!r} is a stub: in an official run its plugin is imported only in the sandboxed "
                          "worker, and score() runs there (isolation='process'), never in the harness")


def attack_stub(d: AttackDescription) -> type[AttackStub]:
    ref = {"module": d.module, "qualname": d.qualname, "file": d.file}
    attrs = {"name": d.name, "threat_model": d.threat_model, "tasks": d.tasks, "params": dict(d.params), "version": d.version,
             "_class_ref": ref, "_error": d.error, "__module__": __name__, "__doc__": f"Stub of {d.module}.{d.qualname} (described in the sandbox)."}
    return type(d.qualname.rsplit(".", 1)[-1], (AttackStub,), attrs)


class OfficialRegistry(Registry):
    """A registry that knows which names it withholds (a plugin that also registers attacks) and says so."""

    def __init__(self, manager: Any = None) -> None:
        super().__init__(manager)
        self.withheld: dict[str, dict[str, str]] = {k: {} for k in self.KINDS}  # kind -> name -> plugin

    def get(self, kind: str, name: str) -> Any:
        plugin = self.withheld[kind].get(name)
        if plugin is not None and name not in self._items[kind]:
            raise PluginError(
                f"{kind[:-1]} {name!r} comes from plugin {plugin!r}, which also registers attacks (itself or another plugin of its distribution): an official run never imports"
                f" such a plugin in the harness (its attacks run only in the sandboxed worker), so its {kind} are unavailable;"
                " register tracks and defenses from a separate plugin than attacks for official runs")
        return super().get(kind, name)


def check_official(registry: Any, plan: Any) -> None:
    """Refuse, before anything trains, a track or defense that an official registry withholds."""
    withheld = getattr(registry, "withheld", None)
    for kind, names in (("tracks", plan.tracks), ("defenses", plan.defenses)):
        for name in names:
            if withheld and name in withheld[kind]:
                registry.get(kind, name)  # raises, naming the plugin


def official_registry(files: Iterable[str | os.PathLike[str]] = (), *, sandbox: str | None = None, hide: Iterable[str] = (),
                      wanted: Mapping[str, Iterable[str] | None] | None = None) -> tuple[PluginManager, OfficialRegistry]:
    """(manager, registry) for an official run; ``hide``: folders the describing processes must not read; ``wanted``:
    by kind (tracks, defenses, executors), the names the run uses, None for any (``--defenses all``); a kind left
    out: none of it. Default: any track, defense or executor (a plugin that registers none is never imported)."""
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    eps = [ep for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name) if ep.name not in disabled]
    _refuse_shared_names(eps)
    first = [ep.name for ep in eps if _dist(ep)[0] in FIRST_PARTY]
    infos = {ep.name: PluginInfo(ep.name, *_dist(ep)) for ep in eps if _dist(ep)[0] not in FIRST_PARTY}
    paths: dict[str, str] = {}  # plugin file's stem -> its absolute path (the describing process runs in /)
    given: dict[str, Any] = {}
    for f in files:
        p = Path(f)
        if p.stem in disabled:
            continue
        if p.stem in infos or p.stem in first:
            raise PluginError(f"plugin file {p} has the same name as the already loaded plugin {p.stem!r}")
        infos[p.stem], paths[p.stem], given[p.stem] = PluginInfo(p.stem, None, None, source=f"file:{p}"), str(p.resolve()), f
    requests = [(n, _label(i), "file" if n in paths else "entry-point", paths.get(n, n)) for n, i in infos.items()]
    described = describe_plugins(requests, sandbox=sandbox, hide=hide)
    sealed = _sealed(described, infos)
    used = {n for n, d in described.items() if n not in sealed and _provides(d, wanted)}
    manager = PluginManager()
    manager.load_entry_points(names=[*first, *(n for n in infos if n not in paths and n in used)])
    for stem in paths:
        if stem in used:
            manager.load_file(given[stem])
    base = manager.registry(strict=False)
    _refuse_attacks_in_harness(manager)
    registry = OfficialRegistry(manager)
    registry._items, registry.conflicts = base._items, base.conflicts
    for name in sorted(sealed):
        _add_sealed(manager, registry, infos[name], described[name])
    return manager, registry.check()


def _sealed(described: dict[str, PluginDescription], infos: dict[str, PluginInfo]) -> set[str]:
    """The plugins never imported here: those that register attacks (or are broken), every other plugin of their
    distribution (one package could ship a harmless-looking second entry point beside its attack), and those that
    register nothing the harness needs (no track, defense or executor): the description is the plugin's own claim,
    so a plugin that says it registers nothing would otherwise run its module code here for nothing but its say-so."""
    attacks = {n for n, d in described.items() if d.attacks or d.registers["attacks"] or d.error}
    dists = {infos[n].distribution for n in attacks if infos[n].distribution}
    idle = {n for n, d in described.items() if not any(d.registers[k] for k in ("tracks", "defenses", "executors"))}
    return attacks | idle | {n for n in described if infos[n].distribution in dists}


def _add_sealed(manager: PluginManager, registry: OfficialRegistry, info: PluginInfo, d: PluginDescription) -> None:
    """A plugin known only from its description: its attacks as stubs, the rest withheld."""
    info.error, info.problems = d.error, list(d.problems)
    info.registers = {k: ([] if k == "attacks" else list(v)) for k, v in d.registers.items()}
    manager.plugins[info.name] = info
    if d.error:
        where = f"distribution {info.distribution!r}" if info.distribution else info.source
        warnings.warn(f"privbench plugin {info.name!r} ({where}) is broken (described in the sandbox): {d.error}", RuntimeWarning, stacklevel=3)
        return
    for kind in ("tracks", "defenses", "executors"):
        for name in d.registers[kind]:
            registry.withheld[kind].setdefault(name, info.name)
    for attack in d.attacks:
        registry.add("attacks", attack.name, attack_stub(attack), info)


def _provides(d: PluginDescription, wanted: Mapping[str, Iterable[str] | None] | None) -> bool:
    """Whether a plugin registers a track, defense or executor the run uses (then it is imported in the harness)."""
    for kind in ("tracks", "defenses", "executors"):
        if kind in (wanted or {}) or wanted is None:
            want = None if wanted is None else wanted[kind]
            if d.registers.get(kind) and (want is None or set(d.registers[kind]) & set(want)):
                return True
    return False


def _refuse_attacks_in_harness(manager: PluginManager) -> None:
    """A third-party plugin imported here registers no attack: one that does now described itself otherwise."""
    for info in manager.plugins.values():
        if info.distribution not in FIRST_PARTY and info.registers["attacks"]:
            raise PluginError(f"plugin {info.name!r} registered attack(s) {', '.join(info.registers['attacks'])} in the harness process,"
                              " but none when it was described in the sandbox; an official run refuses it")


def _refuse_shared_names(eps: list[Any]) -> None:
    """Entry points are loaded by name here and in the describing process: a name two distributions declare (another
    package's ``lira``) would be whichever is found first, described as one and imported as the other."""
    by_name: dict[str, set[str]] = {}
    for ep in eps:
        by_name.setdefault(ep.name, set()).add(str(_dist(ep)[0]))
    shared = {n: sorted(d) for n, d in by_name.items() if len(d) > 1}
    if shared:
        raise PluginError("; ".join(f"privbench entry point {n!r} is declared by several distributions ({', '.join(d)})" for n, d in sorted(shared.items()))
                          + ": an official run cannot tell them apart; uninstall all but one")


def _dist(ep: Any) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    return (dist.metadata["Name"], dist.version) if dist else (None, None)


def _label(info: PluginInfo) -> str:
    return f"{info.name!r} (" + (f"distribution {info.distribution!r})" if info.distribution else f"{info.source})")
