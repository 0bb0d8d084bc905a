"""Every first-party plugin declares its version (bumped when its behaviour changes; it is part of every run id)."""

from bench import Attack, Defense, Track
from bench._plugins import load_plugins

BASES = (Attack, Defense, Track)


def _declares_version(cls: type) -> bool:
    # declared by the class or a first-party parent, never only by bench's base classes
    return any("version" in vars(k) for k in cls.__mro__ if k not in BASES and k.__module__.startswith("plugins."))


def test_every_first_party_plugin_declares_a_version():
    _, registry = load_plugins()
    missing = []
    for kind in ("attacks", "defenses", "tracks"):
        for name in registry.names(kind):
            obj = registry.get(kind, name).obj
            cls = obj if isinstance(obj, type) else type(obj)
            if cls.__module__.startswith("plugins.") and not _declares_version(cls):
                missing.append(f"{kind[:-1]} {name!r} ({cls.__module__}.{cls.__name__})")
    assert not missing, "declare `version = \"1\"` (bump it when behaviour changes) on: " + ", ".join(missing)
