"""Seeded random splits of a training set, and the defender's reference data, for defenses. No torch here.

A defense whose members are scored never holds members out of training: its validation, reference or
distillation data is ``require_reference(trainer, who)``, population data the harness draws for it.

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

__all__ = ["hold_out", "random_parts", "require_reference", "reference_count"]


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


def reference_count(fraction: float, train_size: int, *, who: str) -> int:
    """``fraction`` × ``train_size`` rounded, at least one: a defense's ``reference_size`` rule."""
    if not float(fraction) > 0:
        raise ValueError(f"{who}: the reference fraction must be > 0, got {fraction}")
    return max(1, int(round(float(fraction) * int(train_size))))


def require_reference(trainer: object, who: str) -> Dataset:
    """The defender's population data on ``trainer.reference``, or a clear error where there is none."""
    reference = getattr(trainer, "reference", None)
    if reference is None or len(reference) == 0:
        raise ValueError(
            f"{who} trains with reference data from the population (trainer.reference), but the trainer has none: "
            f"train it through the harness (ModelFactory draws Defense.reference_size population units), or set "
            f"trainer.reference to data disjoint from the members"
        )
    return reference
