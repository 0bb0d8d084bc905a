"""Seeded random splits of a training set, for defenses that hold part of it out. No torch here.

>>> import numpy as np
>>> from bench import Dataset
>>> d = Dataset(x=np.arange(10), y=np.arange(10) % 2)
>>> held, rest = hold_out(d, 0.2, seed=0, salt=0xAD)
>>> len(held), len(rest), sorted(set(held.x) | set(rest.x)) == list(range(10))
(2, 8, True)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._api import Dataset

__all__ = ["hold_out", "random_parts"]


def random_parts(data: Dataset, sizes: Sequence[int], *, seed: int, salt: int) -> list[Dataset]:
    """Disjoint random parts of ``data`` of the given sizes (they must add up to ``len(data)``).

    The rows are a permutation drawn from ``default_rng([seed, salt])`` cut in order; each part keeps
    data order. ``salt`` tells the defenses' draws apart, so two defenses never hold out the same rows by accident.
    """
    if sum(sizes) != len(data) or min(sizes, default=0) < 0:
        raise ValueError(f"part sizes {list(sizes)} do not partition {len(data)} rows")
    order = np.random.default_rng([int(seed), int(salt)]).permutation(len(data))
    bounds = np.cumsum([0, *sizes])
    return [data[np.sort(order[a:b])] for a, b in zip(bounds[:-1], bounds[1:])]


def hold_out(data: Dataset, fraction: float, *, seed: int, salt: int, who: str = "hold_out") -> tuple[Dataset, Dataset]:
    """(held out, rest): ``fraction`` of the rows (rounded, at least one) held out at random, both non-empty."""
    n = max(1, int(round(float(fraction) * len(data))))
    if not 0 < n < len(data):
        raise ValueError(f"{who}: holding out {fraction} of {len(data)} rows leaves nothing to train on; use a smaller fraction")
    held, rest = random_parts(data, [n, len(data) - n], seed=seed, salt=salt)
    return held, rest
