"""Hook specifications: what a privbench plugin can implement.

Every ``register_*`` hook receives a ``register`` callback taking one object whose ``name`` it is registered under.

In an official run a plugin that registers attacks is imported only in the sandbox (``bench._official_plugins``):
its tracks, defenses and executors are unavailable there and its event hooks are not fired; register those from a
separate plugin. A plugin that provides no track, defense or executor the official run uses is not imported either.
"""

from ._markers import hookspec


@hookspec
def register_attacks(register):
    """Register attack classes: ``register(AttackClass)``."""


@hookspec
def register_defenses(register):
    """Register defense classes: ``register(DefenseClass)``."""


@hookspec
def register_tracks(register):
    """Register tracks: ``register(TrackClass or instance)``."""


@hookspec
def register_executors(register):
    """Register executors: ``register(ExecutorClass)``, its name the class attribute ``name``.

    The old ``register(name, ExecutorClass)`` still works and warns (``DeprecationWarning``)."""


@hookspec
def run_started(plan):
    """Called once before a run's first cell, with the resolved plan."""


@hookspec
def record_written(record):
    """Called after each result record is written to results.jsonl."""
