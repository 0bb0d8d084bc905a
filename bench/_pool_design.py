"""LiRA's pool design (Carlini et al. 2022, §V-A): one pool, many models, each on a random half of it.

Per (track, seed): a pool of 2N units and a population disjoint from it. Every model of a cell, target or shadow,
trains on exactly N pool units, a uniformly random half drawn *independently* per model, with the same recipe.
Each pool unit is thus IN for about half of the models, and a target's membership is independent of what its
shadows reveal. (A keep matrix balanced exactly over all M models would leak it: a unit IN for exactly M/2
models is IN for the target iff it is IN for M/2 − 1 of the shadows.)

Models 0 … T−1 are the targets, models T … M−1 the shadows of every target. The attack against target t gets the
whole pool as candidates and the shadow models with their inclusion. No target is ever any run's shadow: were
target t+1 a shadow of target t, its membership (its inclusion row) would be in the run against t, one covert
channel away from the run against t+1 (a sandboxed attack carried it through the host's page cache). The harness
alone holds ``keep``; attacks see the inclusion of the shadow models only, the same rows in every run.

Before that change (commit f5a7c13) M was max_shadows + 1, target t's shadows were the other models, and the design's
sha256 did not name the targets: ``legacy_sha256`` keeps the records published from that design checkable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["PoolDesign", "draw_pool_design"]


@dataclass(frozen=True)
class PoolDesign:
    """Pool units, the population beside them, and which pool units each of the M models trains on."""

    pool: np.ndarray  # (2N,) unit ids, in the fixed candidate order
    population: np.ndarray  # unit ids disjoint from the pool
    keep: np.ndarray  # (M, 2N) bool, each row with exactly N True
    n_targets: int = 1  # models 0 … T−1 are targets, the rest the shadows of each

    def __post_init__(self) -> None:
        if not 1 <= self.n_targets < self.n_models:
            raise ValueError(f"the pool design needs at least one target and one shadow model: {self.n_targets} targets of {self.n_models} models")
        if np.intersect1d(self.pool, self.population).size:
            raise ValueError("pool and population overlap: the population must stay disjoint from the pool")
        sizes = set(self.keep.sum(axis=1).tolist())
        if len(sizes) != 1 or self.keep.shape[1] != len(self.pool):
            raise ValueError(f"every model must train on the same number of pool units; got sizes {sorted(sizes)}")

    @property
    def n_models(self) -> int:
        return int(self.keep.shape[0])

    @property
    def train_size(self) -> int:
        return int(self.keep[0].sum())

    def training_units(self, model: int) -> np.ndarray:
        """The pool units model ``model`` trains on (sorted unit ids)."""
        return np.sort(self.pool[self.keep[model]])

    def split(self, target: int):
        """Model ``target``'s split: its training units as members, the rest of the pool as non-members, the
        pool (in its fixed order) as candidates. Harness only: it holds the membership."""
        from ._track import Split

        return Split(self.training_units(target), np.sort(self.pool[~self.keep[target]]), self.population, self.pool)

    def shadows_of(self, target: int) -> np.ndarray:
        """The models that serve as shadows when ``target`` is the target: every non-target model, for every target."""
        if not 0 <= target < self.n_targets:
            raise ValueError(f"model {target} is not a target of this design (targets 0 … {self.n_targets - 1})")
        return np.arange(self.n_targets, self.n_models)

    def is_member(self, target: int) -> np.ndarray:
        """Ground truth for the candidates (the pool, in order) when ``target`` is the target. Harness only."""
        return self.keep[target].copy()

    @property
    def pool_sha256(self) -> str:
        """Identity of the pool and population only (what every model's cache key names; growing M keeps it)."""
        spec = {"pool": self.pool.astype(int).tolist(), "population": self.population.astype(int).tolist()}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    @property
    def sha256(self) -> str:
        return self._sha256(targets=True)

    @property
    def legacy_sha256(self) -> str:
        """The sha256 of records published before targets stopped being shadows (it did not name the targets)."""
        return self._sha256(targets=False)

    def _sha256(self, targets: bool) -> str:
        spec = {"pool": self.pool.astype(int).tolist(), "population": self.population.astype(int).tolist(),
                "keep": np.packbits(self.keep, axis=1).tobytes().hex(), **({"targets": int(self.n_targets)} if targets else {})}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def draw_pool_design(n_units: int, train_size: int, n_models: int, population: int, seed: int | Sequence[int],
                     n_targets: int = 1) -> PoolDesign:
    """Draw the pool (2·train_size units), the population and M independent uniform halves, from ``seed``; the
    first ``n_targets`` models are the targets.

    Model m's half depends only on (seed, m), so growing M (a larger tier) keeps the first models' training sets
    and their cached weights."""
    need = 2 * train_size + population
    if need > n_units:
        raise ValueError(f"the pool design needs {need} units (2 × {train_size} pool + {population} population) but the data has {n_units}")
    if n_models < n_targets + 1:
        raise ValueError(f"the pool design needs at least {n_targets + 1} models ({n_targets} targets and a shadow), not {n_models}")
    seed = [int(s) for s in (seed if isinstance(seed, (list, tuple)) else [seed])]
    perm = np.random.default_rng([*seed, 0x9001]).permutation(n_units)
    pool, pop = perm[: 2 * train_size], np.sort(perm[2 * train_size : need])
    keep = np.zeros((n_models, 2 * train_size), dtype=bool)
    for m in range(n_models):
        keep[m, np.random.default_rng([*seed, 0x9002, m]).choice(2 * train_size, train_size, replace=False)] = True
    return PoolDesign(pool, pop, keep, int(n_targets))
