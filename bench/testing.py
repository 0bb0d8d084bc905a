"""Test helpers shipped with the library: build an attack's context outside the runner, run one cell.

For plugin authors' unit tests (and ours)::

    with make_session() as session:
        ctx, is_member = make_context("loss", track="synthetic-blobs", session=session)
        scores = session.registry.attack("loss").score(ctx)

Temporary folders (a private model cache, a run folder) are removed when the session is closed, when
the ``with`` block ends, or at the latest when nothing refers to the session or its cache any more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import weakref
from contextlib import nullcontext
from typing import Any

import numpy as np

from ._runner import Cell, Plan, Session

__all__ = ["make_session", "make_context", "run_cell", "registry_with", "make_record", "ScratchSession", "close_sessions", "COINFLIP_PLUGIN"]

# DESIGN.md's complete third-party attack, verbatim: tests install it as a file or a package.
COINFLIP_PLUGIN = textwrap.dedent(
    '''
    import numpy as np
    from bench import Attack, ThreatModel, hookimpl

    class CoinFlip(Attack):
        name = "coinflip"
        threat_model = ThreatModel.LABEL        # LABEL < SCORES < WHITEBOX
        def score(self, ctx):
            return ctx.rng.random(len(ctx.candidates))

    @hookimpl
    def register_attacks(register):
        register(CoinFlip)
    '''
)


class ScratchSession(Session):
    """A :class:`Session` that owns temporary folders: ``close()`` (or ``with``) removes them.

    They are also removed once neither the session nor its model cache is referenced (a context built
    from it keeps the cache, hence the folders, alive), and at interpreter exit at the latest."""

    _scratch: Any = None

    def own(self, root: str) -> None:
        """Remove ``root`` with this session: on close, or when it and its cache are garbage."""
        holder = _Holder()
        holder.finalizer = weakref.finalize(holder, shutil.rmtree, root, ignore_errors=True)
        self._scratch = self.cache._privbench_scratch = holder  # type: ignore[attr-defined]
        _FINALIZERS[:] = [f for f in _FINALIZERS if f.alive] + [holder.finalizer]

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.finalizer()

    def __enter__(self) -> "ScratchSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Holder:
    """Kept by the session and by its cache; the folders go when the last of them does."""

    finalizer: Any = None


_FINALIZERS: list[Any] = []  # of the sessions not yet removed


def close_sessions() -> None:
    """Remove the temporary folders of every :func:`make_session` session still open, as interpreter exit would.

    For a test suite's teardown: a session that a failed test's traceback still refers to is removed too."""
    for finalizer in _FINALIZERS:
        finalizer()
    _FINALIZERS.clear()


def make_session(*, registry: Any = None, cache_dir: str | os.PathLike[str] | None = None, out_dir: str | None = None, **plan: Any) -> ScratchSession:
    """A :class:`ScratchSession` with entry-point plugins (or ``registry``), CPU, no progress bars, no scenarios, and
    attacks scored in a harness thread (``isolation="thread"``; pass ``isolation="process"`` to run them as a run does).

    Without ``cache_dir`` (``out_dir``) the model cache (run folder) is a temporary folder that the session
    removes when it is closed (``with make_session() as s:`` or ``s.close()``) or garbage-collected."""
    root = None if cache_dir is not None and out_dir is not None else tempfile.mkdtemp(prefix="privbench-test-")
    # Unit tests score in a harness thread (the only place that path is for); isolation="process" as a run does.
    defaults: dict[str, Any] = {"tracks": [], "attacks": [], "defenses": ["none"], "seeds": [0], "device": "cpu", "progress": False, "scenarios": False,
                                "isolation": "thread"}
    p = Plan(**{**defaults, **plan, "cache_dir": str(cache_dir) if cache_dir is not None else os.path.join(str(root), "cache"),
                "out_dir": str(out_dir) if out_dir is not None else os.path.join(str(root), "run")})
    session = ScratchSession(p, registry=registry)
    if root is not None:
        session.own(root)
    return session


def make_context(
    attack: str | Any,
    track: str = "synthetic-blobs",
    *,
    budget: str = "smoke",
    seed: int = 0,
    defense: str = "none",
    session: Session | None = None,
    **attack_params: Any,
) -> tuple[Any, np.ndarray]:
    """The context an attack (name or instance) gets on a track's target, and the truth to score it against.

    Returns ``(ctx, is_member)``: the :class:`bench.AttackContext` of the cell, and a boolean array, one entry per
    candidate (``ctx.candidates``, same order), True for the target's members. ``is_member`` is for the test,
    never for the attack. Without ``session`` a :func:`make_session` is made whose temporary cache lives as long
    as ``ctx`` does; pass one session to several calls to share trained targets and shadows."""
    session = session or make_session()
    name = attack if isinstance(attack, str) else attack.name
    attack_obj = session.registry.attack(name, **attack_params) if isinstance(attack, str) else attack
    cell = Cell(track, defense, name, seed, budget, {}, dict(attack_params))
    if session.uses_pool(session.track(track)[0]):  # LiRA's pool design: target 0 of the cell, the non-target models its shadows
        from ._pool_cell import pool_context

        ctx, _, split = pool_context(session, cell, attack_obj, session.defense(cell), 0)
        return ctx, split.is_member()
    target = session.target(cell)
    if target["error"]:
        raise RuntimeError(target["error"])
    ctx, _ = session.context(cell, attack_obj, session.defense(cell), target["module"])
    _, _, split = session.track(track)
    return ctx, split.is_member()


def run_cell(attack: str, track: str = "synthetic-blobs", *, budget: str = "smoke", seed: int = 0, defense: str = "none", session: Session | None = None, attack_params: dict | None = None, defense_params: dict | None = None) -> dict[str, Any]:
    """Run one grid cell through the harness and return its record (without ``session``, in a temporary one, removed after)."""
    with (nullcontext(session) if session is not None else make_session()) as s:
        record, _ = s.run_cell(Cell(track, defense, attack, seed, budget, dict(defense_params or {}), dict(attack_params or {})))
    return record


def registry_with(*classes: Any, name: str = "throwaway") -> Any:
    """The installed plugins plus a throwaway plugin registering ``classes`` (attacks, defenses, tracks)."""
    from ._api import Attack, Defense
    from ._markers import hookimpl
    from ._plugins import load_plugins
    from ._track import Track

    def hook(base: type) -> Any:
        picked = [c for c in classes if isinstance(c, type) and issubclass(c, base) or isinstance(c, base)]

        def register_all(register: Any) -> None:
            for c in picked:
                register(c)

        return register_all

    module = type("ThrowawayPlugin", (), {})()
    module.register_attacks = hookimpl(hook(Attack))
    module.register_defenses = hookimpl(hook(Defense))
    module.register_tracks = hookimpl(hook(Track))
    manager, _ = load_plugins()
    manager.register_module(name, module)
    return manager.registry()


def make_record(attack: str | dict[str, Any] = "a", defense: str | dict[str, Any] = "none", seed: int = 0, *, track: str | dict[str, Any] = "t",
                tier: str = "cpu", status: str = "ok", metrics: dict[str, Any] | None = None, utility: dict[str, Any] | None = None,
                **parts: Any) -> Any:
    """A :class:`bench.Record` built from a few values, for tests of views and publishing (no run needed).

    ``attack``/``defense``/``track`` are a name or their JSON form (``{"name": "dp", "params": {"eps": 1}}``); ``parts``
    set other record keys by their JSON form, e.g. ``run_id="x"``.
    """
    from ._record import Record

    attack = {"name": attack} if isinstance(attack, str) else attack
    defense = {"name": defense} if isinstance(defense, str) else defense
    track_ = {"name": track, "task": "classification"} if isinstance(track, str) else track
    data: dict[str, Any] = {
        "schema_version": 2, "run_id": f"{track_['name']}/{tier}/{defense['name']}{defense.get('params', '')}/{attack['name']}/{seed}",
        "track": track_, "attack": attack, "defense": defense, "seed": seed,
        "budget": {"tier": tier}, "status": status, "metrics": dict(metrics or {}) if status == "ok" else {}, "utility": dict(utility or {}),
    }
    data.update(parts)
    return Record.from_dict(data)
