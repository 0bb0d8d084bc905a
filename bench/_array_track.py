"""Your own data as a classification track: arrays (or a pinned Hugging Face dataset), a torch module factory, a recipe.

Use it from the Python API (``bench.run(tracks=[bench.track_from_arrays(...)], ...)``) or from a plugin
(subclass :class:`ArrayTrack`, override ``arrays()`` and, optionally, ``make_module()``, register the class).
Targets and shadow models train with the harness's trainer and the recipe's optimizer, epochs and batch size;
the module comes from the factory (the recipe's ``arch`` names it in records only). No torch at import.
"""

from __future__ import annotations

import functools
import hashlib
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ._api import Budget, Dataset, Defense, Task
from ._recipe import Recipe
from ._track import Split, Track

__all__ = ["ArrayTrack", "track_from_arrays", "track_from_hf"]

ModuleFactory = Callable[[], Any]  # () -> an untrained torch.nn.Module, its output one logit per class


class ArrayTrack(Track):
    """A classification track over arrays ``x`` (N, ...) and integer labels ``y`` (N,).

    Split: by default a seeded random 30 % members, 30 % non-members, the rest population (the attacker's
    data); or explicit unit indices (``members``, ``nonmembers``, ``population``), as :func:`bench.audit` gives.
    The track's version carries a fingerprint of the data, the module's structure and the split, so cached
    models of other data never collide with these.
    """

    name = "arrays"
    description = "a classification track built from arrays"
    recipe = Recipe("custom", epochs=20, batch_size=64, lr=0.05)
    default_fractions: Mapping[str, float] = {"members": 0.3, "nonmembers": 0.3}

    def __init__(self, name: str | None = None, x: Any = None, y: Any = None, module_factory: ModuleFactory | None = None,
                 recipe: Recipe | None = None, *, num_classes: int | None = None, split_sizes: Mapping[str, int] | None = None,
                 members: Sequence[int] | None = None, nonmembers: Sequence[int] | None = None, population: Sequence[int] | None = None,
                 split_seed: int = 0, augmentations: Sequence[str] = (), budgets: Mapping[str, Budget] | None = None, description: str | None = None,
                 identity: str = ""):
        for attr, value in (("name", name), ("recipe", recipe), ("num_classes", num_classes), ("description", description), ("budgets", budgets)):
            if value is not None:
                setattr(self, attr, value)
        self.module_factory = module_factory  # an instance attribute: a plugin overrides make_module() instead
        if recipe is not None and not isinstance(recipe, Recipe):
            raise TypeError(f"track {self.name!r}: recipe must be a bench.Recipe, got {type(recipe).__name__}")
        self._given = None if x is None else (x, y)
        self._parts = None if members is None else {"members": members, "nonmembers": nonmembers, "population": population}
        if split_sizes is not None:
            self.split_sizes = dict(split_sizes)
        self.split_seed = int(split_seed)
        self.augmentations = tuple(augmentations)
        self._base_version = type(self).version
        self.identity = identity  # folded into the version (bench.audit_model: the target's weights)

    # -- what a subclass overrides --------------------------------------------------------------
    def arrays(self) -> tuple[Any, Any]:
        """The data as ``(x, y)``: override in a plugin (read files under ``self.data_dir`` here, lazily)."""
        if self._given is None:
            raise NotImplementedError(f"track {self.name!r}: pass x and y, or override arrays() in {type(self).__name__}")
        return self._given

    def make_module(self) -> Any:
        """An untrained module: the factory's, else the recipe's registered architecture (``bench.training``)."""
        if self.module_factory is not None:
            return self.module_factory()
        from .training import ARCHITECTURES, build_model

        if self.recipe.arch not in ARCHITECTURES:
            raise ValueError(f"track {self.name!r}: pass a module_factory (or override make_module()); the recipe's arch"
                             f" {self.recipe.arch!r} is not a registered architecture ({', '.join(sorted(ARCHITECTURES))})")
        return build_model(self.recipe, self.input_shape, self.num_classes)

    # -- Track ------------------------------------------------------------------------------------
    def load(self) -> Dataset:
        x, y = self.arrays()
        x, y = _checked(self.name, x, y)
        self.input_shape = tuple(x.shape[1:])
        self.num_classes = int(self.num_classes or int(y.max()) + 1)
        if int(y.max()) >= self.num_classes:
            raise ValueError(f"track {self.name!r}: label {int(y.max())} is out of range for num_classes={self.num_classes}")
        if not self.split_sizes and self._parts is None:
            n = len(x)
            self.split_sizes = {k: int(n * f) for k, f in self.default_fractions.items()}
            self.split_sizes["population"] = n - sum(self.split_sizes.values())
        self.version = f"{self._base_version}+{self._fingerprint(x, y)}"
        return Dataset(x=x, y=y)

    def split(self, data: Dataset) -> Split:
        if self._parts is None:
            return super().split(data)
        parts = {k: np.sort(np.asarray(v if v is not None else [], dtype=np.int64)) for k, v in self._parts.items()}
        for k, v in parts.items():
            if len(v) and (v.min() < 0 or v.max() >= len(data)):
                raise ValueError(f"track {self.name!r}: {k} indices must lie in [0, {len(data)}), got {int(v.min())}..{int(v.max())}")
            if len(np.unique(v)) != len(v):
                raise ValueError(f"track {self.name!r}: {k} indices repeat a row")
        rng = np.random.default_rng(self.split_seed)
        candidates = rng.permutation(np.concatenate([parts["members"], parts["nonmembers"]]))
        return Split(parts["members"], parts["nonmembers"], parts["population"], candidates)

    def trainer(self, recipe: Recipe, seed: int, device: str, progress: Any = None) -> Any:
        return _factory_trainer()(self.make_module, recipe, input_shape=self.input_shape, num_classes=self.num_classes,
                                  seed=seed, device=device, progress=progress)

    def build_module(self, defense: Defense) -> Any:
        return self.make_module()

    def _fingerprint(self, x: np.ndarray, y: np.ndarray) -> str:
        """sha256 of the data, the module's structure and parameter shapes, and an explicit split."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(x).tobytes())
        h.update(np.ascontiguousarray(y).tobytes())
        module = self.make_module()
        h.update(repr(module).encode())
        h.update(repr([tuple(p.shape) for p in module.parameters()]).encode())
        h.update(self.identity.encode())
        if self._parts is not None:
            h.update(repr({k: np.asarray(v if v is not None else []).tolist() for k, v in sorted(self._parts.items())}).encode())
        return "data-" + h.hexdigest()[:16]


def _checked(name: str, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"track {name!r}: x must be (N, features...) and y (N,) of the same N; got x {x.shape}, y {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ValueError(f"track {name!r}: y must hold class indices 0..C-1 (integers), got dtype {y.dtype}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise ValueError(f"track {name!r}: x must be finite numbers")
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


@functools.cache
def _factory_trainer() -> type:
    """The harness's Trainer, building its model from the track's factory (made on first use: imports torch)."""
    import torch

    from ._trainer import Trainer

    class FactoryTrainer(Trainer):
        def __init__(self, factory: ModuleFactory, recipe: Recipe, **kwargs: Any):
            super().__init__(recipe, **kwargs)
            self.factory = factory

        def reseeded(self, seed: int) -> "FactoryTrainer":
            return FactoryTrainer(self.factory, self.recipe, input_shape=self.input_shape, num_classes=self.num_classes, seed=seed, device=self.device)

        def build_model(self, recipe: Recipe | None = None) -> Any:
            torch.manual_seed(self.seed)  # the factory's initialization is seeded like a recipe architecture's
            return self.factory().to(self.device)

    return FactoryTrainer


def track_from_arrays(name: str, x: Any, y: Any, module_factory: ModuleFactory | None = None, recipe: Recipe | None = None, **options: Any) -> ArrayTrack:
    """A track over your arrays; ``module_factory()`` returns an untrained torch module (else ``recipe.arch`` is built).

    ``options``: ``num_classes``, ``split_sizes``, ``members``/``nonmembers``/``population`` (row indices),
    ``split_seed``, ``augmentations``, ``budgets``, ``description`` (see :class:`ArrayTrack`)."""
    return ArrayTrack(name, x, y, module_factory, recipe, **options)


class HubTrack(ArrayTrack):
    """An :class:`ArrayTrack` over a Hugging Face dataset at a pinned revision, loaded when the run needs it."""

    def __init__(self, path: str, revision: str | None, *, hf_split: str = "train", x_column: str = "image", y_column: str = "label",
                 limit: int | None = None, **options: Any):
        if revision is None and not os.path.exists(path):
            raise ValueError(f"dataset {path!r}: pin a revision (a commit sha of the dataset repository) so the split is reproducible;"
                             " a local folder or file needs none")
        options.setdefault("description", f"{path}@{revision or 'local'} ({hf_split})")
        super().__init__(options.pop("name", None) or os.path.basename(path.rstrip("/")), **options)
        self.source = (path, revision, hf_split, x_column, y_column, limit)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        import datasets

        path, revision, hf_split, x_column, y_column, limit = self.source
        ds = datasets.load_dataset(path, revision=revision, split=hf_split, cache_dir=self.data_dir)
        if limit is not None:
            ds = ds.select(range(min(limit, len(ds))))
        for column in (x_column, y_column):
            if column not in ds.column_names:
                raise ValueError(f"dataset {path!r} has no column {column!r}; columns: {', '.join(ds.column_names)}")
        return np.stack([_as_array(v) for v in ds[x_column]]), np.asarray(ds[y_column], dtype=np.int64)


def _as_array(value: Any) -> np.ndarray:
    """An image (PIL) as float32 (C, H, W) in [0, 1]; anything else as a float32 array."""
    if hasattr(value, "convert") and hasattr(value, "size"):
        a = np.asarray(value, dtype=np.float32) / 255.0
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return np.asarray(value, dtype=np.float32)


def track_from_hf(path: str, *, revision: str | None, module_factory: ModuleFactory | None = None, recipe: Recipe | None = None,
                  split: str = "train", x_column: str = "image", y_column: str = "label", limit: int | None = None, **options: Any) -> HubTrack:
    """A track over a Hugging Face dataset (``datasets.load_dataset(path, revision=revision, split=split)``).

    ``revision`` must pin a hub dataset (a commit sha); a local folder or file may pass None. Images become
    float32 (C, H, W) in [0, 1]. The data is read when a run first needs it (``data_dir``: the datasets cache)."""
    return HubTrack(path, revision, hf_split=split, x_column=x_column, y_column=y_column, limit=limit,
                    module_factory=module_factory, recipe=recipe, **options)
