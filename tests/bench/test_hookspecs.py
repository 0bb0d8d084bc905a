"""bench/hookspecs.py: the hook names are the contract; every register_* hook takes one ``register`` callback."""

import inspect

from bench import hookspecs
from bench._plugins import HOOK_NAMES


def test_the_hooks_are_the_documented_ones_and_use_the_exported_marker():
    import bench

    assert hookspecs.hookspec is bench.hookspec
    assert set(HOOK_NAMES) == {"register_attacks", "register_defenses", "register_tracks", "register_executors", "run_started", "record_written"}


def test_register_hooks_take_one_register_callback_and_say_what_it_takes():
    for name in HOOK_NAMES:
        spec = getattr(hookspecs, name)
        if name.startswith("register_"):
            assert list(inspect.signature(spec).parameters) == ["register"], name
            assert "register(" in spec.__doc__ and "name" not in spec.__doc__.split("register(")[1].split(")")[0], name
        assert spec.__doc__.strip(), name
