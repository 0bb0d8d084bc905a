"""Tracks: a data source, a standardized split with its sha256, a target recipe and budget tiers.

The base class implements classification; multimodal tracks override the unit-level methods
(``split``, ``training_rows``, ``candidates``, ``train``, ``predictor``, ``utility``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import numpy as np

from ._api import Budget, Candidates, Dataset, Defense, Predictor, Task, TrackInfo
from ._recipe import Recipe

if TYPE_CHECKING:  # pragma: no cover
    from ._trainer_protocol import ModelTrainer, TrainedModel

__all__ = ["Track", "Split", "DEFAULT_BUDGETS"]

DEFAULT_BUDGETS: dict[str, Budget] = {
    "smoke": Budget("smoke", max_shadows=4, queries_per_candidate=64, device_seconds=120),
    "cpu": Budget("cpu", max_shadows=16, queries_per_candidate=256, device_seconds=1800),
    "gpu": Budget("gpu", max_shadows=64, queries_per_candidate=1024, device_seconds=3600),
}


@dataclass(frozen=True)
class Split:
    """The split manifest: index arrays over a track's units (rows, or identities for faces).

    ``candidates`` is members ∪ nonmembers in a fixed shuffled order. The manifest lives with the
    harness only: attacks receive candidates' data, never these indices.
    """

    members: np.ndarray
    nonmembers: np.ndarray
    population: np.ndarray
    candidates: np.ndarray

    def __post_init__(self) -> None:
        parts = {"members": self.members, "nonmembers": self.nonmembers, "population": self.population}
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                both = np.intersect1d(parts[a], parts[b])
                if len(both):
                    raise ValueError(f"split is not disjoint: unit {int(both[0])} is in both {a} and {b}")
        if not np.array_equal(np.sort(self.candidates), np.sort(np.concatenate([self.members, self.nonmembers]))):
            raise ValueError("split candidates must be exactly members ∪ nonmembers")

    def manifest(self) -> dict[str, list[int]]:
        return {k: np.asarray(getattr(self, k)).astype(int).tolist() for k in ("members", "nonmembers", "population", "candidates")}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.manifest(), sort_keys=True).encode()).hexdigest()

    def is_member(self) -> np.ndarray:
        """Ground truth for the candidates, in candidate order (harness use only)."""
        return np.isin(self.candidates, self.members)


class Track:
    """A benchmark track. Subclass it, set the class attributes, implement ``load``.

    Split sizes are fixed per track version, so the manifest (and its sha256) is the same everywhere.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    task: ClassVar[Task] = Task.CLASSIFICATION
    description: ClassVar[str] = ""
    recipe: ClassVar[Recipe]
    num_classes: ClassVar[int | None] = None
    input_shape: ClassVar[tuple[int, ...] | None] = None
    augmentations: ClassVar[tuple[str, ...]] = ()
    split_sizes: ClassVar[Mapping[str, int]] = {}  # members, nonmembers, population
    split_seed: ClassVar[int] = 0
    budgets: ClassVar[Mapping[str, Budget]] = DEFAULT_BUDGETS
    leaderboard: ClassVar[bool] = True  # synthetic tracks set False
    scenario_size: ClassVar[int] = 500  # size of each extra non-member set (``extra_nonmembers``)
    data_dir: str | None = None  # set by the harness from --data-dir
    params: ClassVar[Mapping[str, Any]] = {}  # track options, overridable with --set TRACK.KEY=VALUE
    # Declared, never inferred: True when the track trains with the base ``train``/``trainer``/``build_module``
    # from ``recipe``, so its shadow models may train stacked (``bench.training.fit_many``) where the recipe allows.
    batchable: ClassVar[bool] = False
    # Declared: True for classification tracks evaluated with LiRA's pool design (``bench._pool_cell``): per
    # (track, seed) a pool of 2N units (N = split_sizes["members"]), M models each on a random half, T targets.
    pool_design: ClassVar[bool] = False
    ood_source: ClassVar[str | None] = None  # where the ``ood`` scenario set comes from (recorded with the scenarios)

    def configure(self, **overrides: Any) -> None:
        """Apply ``--set`` overrides. Non-default options are folded into ``version``, so run ids, records
        and cached models of a configured track never collide with the default track's."""
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise ValueError(f"track {self.name!r} has no option {', '.join(map(repr, unknown))}; known: {', '.join(sorted(self.params)) or 'none'}")
        self.params = {**dict(type(self).params), **overrides}
        changed = {k: v for k, v in self.params.items() if type(self).params.get(k) != v}
        self.version = f"{type(self).version}+{json.dumps(changed, sort_keys=True, default=str)}" if changed else type(self).version

    # -- data -------------------------------------------------------------------------------
    def load(self) -> Dataset:  # pragma: no cover - interface
        """Return the track's data (a ``Dataset``), reading ``self.data_dir`` when set."""
        raise NotImplementedError(f"track {self.name!r} does not implement load()")

    def num_units(self, data: Dataset) -> int:
        return len(data)

    def split(self, data: Dataset) -> Split:
        """Deterministic split from ``split_sizes`` and ``split_seed`` (independent of the run seed)."""
        sizes = dict(self.split_sizes)
        need = sizes["members"] + sizes["nonmembers"] + sizes["population"]
        n = self.num_units(data)
        if need > n:
            raise ValueError(f"track {self.name!r}: split needs {need} units but the data has {n}")
        rng = np.random.default_rng(self.split_seed)
        perm = rng.permutation(n)
        a, b = sizes["members"], sizes["members"] + sizes["nonmembers"]
        members, nonmembers = np.sort(perm[:a]), np.sort(perm[a:b])
        population = np.sort(perm[b:need])
        candidates = rng.permutation(np.concatenate([members, nonmembers]))
        return Split(members, nonmembers, population, candidates)

    def training_rows(self, data: Dataset, units: np.ndarray) -> np.ndarray:
        """Dataset rows a model trained on ``units`` sees (identity → its images for faces)."""
        return np.asarray(units)

    def candidates(self, data: Dataset, units: np.ndarray) -> Candidates:
        """The public view of some units that an attack scores."""
        view = data[np.asarray(units)]
        return Candidates(**{f: getattr(view, f) for f in view.fields})

    def extra_nonmembers(self, data: Dataset, split: Split) -> dict[str, Candidates]:
        """Extra non-member sets for the evaluation scenarios (see ``bench.scenarios``), for image tracks.

        ``split`` shows no membership (``bench.scenarios.blind_split``: every candidate a member), so no set here can
        depend on it; the harness makes ``neighbours`` and ``shifted``, the copies of members, itself
        (``bench.scenarios.member_copies``). Default: ``generated``, up to ``scenario_size`` samples of a generative
        model fitted on the population only. Tracks add ``ood`` (another dataset resized to ``input_shape``, from the
        fixed source named in ``ood_source``) by overriding this method.
        """
        from .scenarios import generated

        image = Task(self.task) is Task.CLASSIFICATION and self.input_shape is not None and len(self.input_shape) == 3
        if not image or "x" not in data.fields or "y" not in data.fields or len(split.population) <= 1:
            return {}
        rng = np.random.default_rng([self.split_seed, 0x4E1])
        pop = data[np.asarray(split.population)]
        n = min(self.scenario_size, max(1, len(split.candidates) // 2))  # about as many as copies of members
        gx, gy = generated(pop.x, pop.y, n, rng)
        rest = data[np.sort(np.asarray(split.candidates))[:n]]  # any other field (none on image tracks): as candidates have it
        return {"generated": Candidates(**{**{f: getattr(rest, f) for f in rest.fields if f not in ("x", "y")}, "x": gx, "y": gy})}

    def info(self, data: Dataset, split: Split) -> TrackInfo:
        return TrackInfo(
            name=self.name,
            version=self.version,
            task=Task(self.task),
            num_classes=self.num_classes,
            input_shape=tuple(self.input_shape) if self.input_shape else None,
            augmentations=tuple(self.augmentations),
            train_size=len(split.members),
        )

    # -- models -----------------------------------------------------------------------------
    def trainer(self, recipe: Recipe, seed: int, device: str, progress: Any = None) -> "ModelTrainer":
        from .training import Trainer

        return Trainer(recipe, input_shape=self.input_shape, num_classes=self.num_classes, seed=seed, device=device, progress=progress)

    def train(self, data: Dataset, defense: Defense, seed: int, device: str = "cpu", progress: Any = None,
              reference: Dataset | None = None) -> "TrainedModel":
        """Train one model on ``data`` under ``defense`` (the same code trains targets and shadows).

        A defense that declares ``changes_training = False`` shares the baseline's cached models, so it gets the
        baseline's training, whatever it overrides: by construction, not by its good behaviour. ``reference``
        (population data, ``Defense.reference_size``) reaches the defense as ``trainer.reference``; the returned
        model's ``fitted`` is the trainer's own log of the rows it fitted."""
        if not defense.changes_training:
            trainer = self.trainer(self.recipe, seed, device, progress)
            trained = Defense.train(defense, trainer, data)
        else:
            trainer = self.trainer(defense.adapt_recipe(self.recipe), seed, device, progress)
            trainer.reference = reference
            trained = defense.train(trainer, data)
        fitted = getattr(trainer, "fitted_rows", None)
        trained.fitted = fitted() if fitted is not None else None
        return trained

    def build_module(self, defense: Defense) -> Any:
        """An untrained module of the right shape, into which cached weights are loaded."""
        from .training import build_model

        return build_model(defense.adapt_recipe(self.recipe), self.input_shape, self.num_classes)

    def predictor(self, module: Any) -> Predictor:
        from .training import ClassifierPredictor

        return ClassifierPredictor(module)

    def utility(self, module: Any, data: Dataset, split: Split) -> dict[str, float]:
        """Train accuracy on members and test accuracy on non-members (unseen data)."""
        from .training import accuracy

        m, n = data[split.members], data[split.nonmembers]
        return {"train_accuracy": accuracy(module, m.x, m.y), "test_accuracy": accuracy(module, n.x, n.y)}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "task": str(Task(self.task)),
            "description": self.description,
            "budgets": sorted(self.budgets),
            "leaderboard": self.leaderboard,
        }
