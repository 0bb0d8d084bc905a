"""Answers a memoizing serving defense gives once per group, asked by the harness in its own process.

A defense whose served predictor keeps its answers in its per-model ``prepared`` state (``Defense.memoizes_answers``;
MemGuard's Phase I searches) would otherwise redo them in every attack worker, for every target and cell: each
worker receives ``prepared`` as a copy. The harness asks every pool model the queries score attacks make by
default, on public inputs only (the pool, in both query views: LiRA's and RMIA's, whose reference points z are pool
points too; no first-party attack asks the population for scores), so the copies arrive with those answers in them.
Nothing else ever enters the shipped state: every server of a model during a run gets a private copy
(``bench._models.private``), so member-derived queries (a target's scenario sets) and what attack workers compute
never come back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._api import Defense
from ._models import _close, private, serve

if TYPE_CHECKING:  # pragma: no cover
    from ._pool_cell import PoolModel
    from ._pool_design import PoolDesign
    from ._track import Track

__all__ = ["query_views", "common_queries", "answer_queries", "answered_copies"]


def query_views(track: "Track", xs: list[np.ndarray]) -> list[np.ndarray]:
    """Each input plain and with the track's first query augmentation: what LiRA and RMIA ask by default
    (``n_queries = 2``), built as ``bench.signals`` builds them."""
    from .signals import augment, query_augmentations

    allowed = tuple(getattr(track, "augmentations", ()) or ())
    kinds = query_augmentations(2 if ("mirror" in allowed or "shift" in allowed) else 1, allowed)
    return [x if k == "id" else augment(np.asarray(x), k) for x in xs if len(x) for k in kinds]


def common_queries(track: "Track", data: Any, design: "PoolDesign") -> list[np.ndarray]:
    """The inputs every score attack of a cell asks each model: the pool, in both views."""
    pool = track.candidates(data, design.pool)
    return query_views(track, [pool.x] if "x" in pool.fields else [])


def answer_queries(track: "Track", defense: Defense, models: "list[PoolModel]", queries: list[np.ndarray], bar: Any = None) -> None:
    """Ask each model's served predictor ``queries`` here in the harness (``Defense.memoizes_answers``): the answers
    stay in its ``prepared`` state, which every attack run and worker of the group receives."""
    try:
        for i, m in enumerate(models):
            served = serve(defense, track.predictor(m.module), m.prepared)
            for x in queries:
                served.predict_scores(x)
            if bar is not None:
                bar(i + 1, len(models))
    finally:
        _close(bar)


def answered_copies(track: "Track", defense: Defense, models: "list[PoolModel]", extra: list[np.ndarray],
                    cache: dict[Any, Any] | None = None, group: Any = None) -> "list[PoolModel]":
    """``models`` with private copies of their serving state that were also asked ``extra`` (both views): for a run
    whose candidates go beyond the common queries (the pool plus a target's scenario points), so that every candidate
    of it is answered alike. Otherwise which candidates the shipped answers hold, or which the target answers without
    searching, would tell the scenario points from the pool. The group's own state is left as it was.

    With ``cache`` (a session's), the copies are made once per (``group``, ``extra``): a target's scenario points are
    the same in every cell of its group, and each run serves from private copies of these in turn. Only the latest
    group is kept (its copies hold the pool's answers too)."""
    if not (defense.prepares and defense.memoizes_answers):
        return list(models)
    import dataclasses
    import hashlib

    key = (group, hashlib.sha256(b"".join(np.ascontiguousarray(x).tobytes() for x in extra)).hexdigest())
    if cache is not None and key in cache:
        return cache[key]
    out = [dataclasses.replace(m, prepared=private(m.prepared)) for m in models]
    answer_queries(track, defense, out, query_views(track, extra))
    if cache is not None:
        for k in [k for k in cache if k[0] != group]:
            del cache[k]
        cache[key] = out
    return out
