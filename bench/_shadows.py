"""Shadow models for an attack: drawn from the public pool (candidates ∪ population), trained by the model layer.

Holds unit ids of the public pool only, never membership: the inclusion matrix says which pool units each
shadow trained on, balanced so that every unit is IN for the same number of models (LiRA's scheme).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._context import BudgetLedger, ShadowModel, Shadows
from ._cost import training_cost
from ._models import ModelFactory, private, serve

if TYPE_CHECKING:  # pragma: no cover
    from ._track import Track

__all__ = ["ShadowSource"]


class ShadowSource:
    """Builds shadow sets from the public pool (candidates ∪ population units); holds no membership."""

    def __init__(self, factory: ModelFactory, track: "Track", candidate_units: np.ndarray, population_units: np.ndarray, seed: int, train_size: int, max_shadows: int):
        self._factory = factory
        self._track = track
        self._candidate_units = np.array(candidate_units, copy=True)
        self._population_units = np.array(population_units, copy=True)
        self._seed = int(seed)
        self._train_size = int(train_size)
        self._max_shadows = int(max_shadows)

    def inclusion(self, n: int, online: bool) -> np.ndarray:
        """Balanced IN/OUT matrix: each pool unit is IN for the same number of models (LiRA's scheme)."""
        pool = len(self._population_units) + (len(self._candidate_units) if online else 0)
        size = min(self._train_size, pool)
        n_max = max(n, self._max_shadows)
        rng = np.random.default_rng([self._seed, 1 if online else 0, n_max, 0x5AD0])
        if n_max == 1:
            keep = np.zeros((1, pool), dtype=bool)
            keep[0, rng.choice(pool, size, replace=False)] = True
            return keep
        k = max(1, int(round(n_max * size / pool)))
        order = rng.random((n_max, pool)).argsort(axis=0)
        return (order < k)[:n]

    def shadows(self, n: int, online: bool, ledger: BudgetLedger) -> Shadows:
        if n < 1:
            raise ValueError(f"ask for at least one shadow model, not {n}")
        ledger.check()
        units = np.concatenate([self._candidate_units, self._population_units]) if online else self._population_units
        keep = self.inclusion(n, online)
        factory = self._factory
        seeds = [self.shadow_seed(i, online) for i in range(len(keep))]
        ledger.reserve_shadows([factory.key("shadow", units[row], seed) for row, seed in zip(keep, seeds)])
        models = []
        for module, meta, cached, trained_now in factory.get_many("shadow", [units[row] for row in keep], seeds):
            ledger.device = factory.device
            ledger.charge_shadow(meta["key"], float(meta["train_seconds"]), trained_now, training_cost(meta.get("spec"), module))
            prepared = private(meta.get("prepared"))  # the shadow's own serving state (MemGuard fitted on its own data), a copy
            predictor = serve(factory.defense, self._track.predictor(module), prepared)
            models.append(ShadowModel(predictor, module, float(meta["train_seconds"]), cached, prepared))
        pool = self._track.candidates(factory.data, units)
        return Shadows(models, keep, pool, len(self._candidate_units) if online else 0)

    def shadow_seed(self, i: int, online: bool) -> int:
        return int(np.random.default_rng([self._seed, i, 1 if online else 0, 0x5AD1]).integers(2**31))
