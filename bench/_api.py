"""The public types plugins build on: threat models, tasks, budgets, attacks, defenses.

Nothing here imports torch: plugin discovery imports these classes.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ._context import AttackContext
    from ._trainer_protocol import ModelTrainer, TrainedModel

__all__ = [
    "ThreatModel",
    "Task",
    "Budget",
    "BudgetExceeded",
    "ThreatModelViolation",
    "PluginError",
    "Candidates",
    "Dataset",
    "TrackInfo",
    "Attack",
    "Defense",
    "Predictor",
    "BASELINE_TRAINING",
]


class ThreatModel(enum.IntEnum):
    """What an attacker may see of the target: the chain LABEL < SCORES < WHITEBOX, and two side channels.

    Each step of the chain sees everything the weaker ones see. TIMING (inference times only) and
    EMBEDDINGS (encoder outputs only) stand beside the chain: they see nothing of it, and of them only
    WHITEBOX (which holds the module) sees anything. Their values sit below LABEL so that a plain ``>=``
    never grants them a chain query; access is decided by ``allows``, a partial order.
    """

    EMBEDDINGS = -1  # encoder outputs only: no labels, no scores, no projection head
    TIMING = 0  # inference times only: no answers at all
    LABEL = 1  # hard labels only
    SCORES = 2  # probabilities / similarity scores
    WHITEBOX = 3  # the module itself: weights, gradients

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def side_channel(self) -> bool:
        return self in (ThreatModel.TIMING, ThreatModel.EMBEDDINGS)

    def allows(self, needed: "ThreatModel | str") -> bool:
        """Whether an attacker with this threat model may make a query that needs ``needed``."""
        needed = ThreatModel.parse(needed)
        if self is needed or self is ThreatModel.WHITEBOX:
            return True
        if self.side_channel or needed.side_channel:
            return False
        return self >= needed

    @classmethod
    def parse(cls, value: "ThreatModel | str") -> "ThreatModel":
        if isinstance(value, cls):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"unknown threat model {value!r}; expected one of {', '.join(m.label for m in cls)}") from None


class Task(str, enum.Enum):
    """What a track asks of an attack. Membership tasks score candidates; integrity tasks report metrics."""

    CLASSIFICATION = "classification"
    IDENTITY_INFERENCE = "identity-inference"
    IMAGE_TEXT = "image-text"
    INTEGRITY = "integrity"
    TOKEN_CLASSIFICATION = "token-classification"
    REPRESENTATION = "representation"
    GENERATION = "generation"  # membership of (image, caption) pairs in a generative model's training set

    @property
    def is_membership(self) -> bool:
        return self is not Task.INTEGRITY

    def __str__(self) -> str:
        return self.value


class PluginError(Exception):
    """A plugin is broken or misbehaves; the message names it."""


class BudgetExceeded(Exception):
    """Raised inside an attack when it spends more than its budget allows."""


class ThreatModelViolation(PermissionError):
    """An attack asked the target for more than its threat model allows."""


from ._budget import DEFAULT_TARGETS, Budget  # noqa: E402  (re-exported: part of the plugin API)


class Candidates:
    """Named arrays of equal length: the points an attack scores (``x``, ``y`` for classification).

    Holds copies, never views into a track's data, and nothing about membership.

    >>> c = Candidates(x=np.zeros((3, 2)), y=np.array([0, 1, 1]))
    >>> len(c), c.y.tolist(), c.fields
    (3, [0, 1, 1], ('x', 'y'))
    """

    def __init__(self, **arrays: Any):
        if not arrays:
            raise ValueError("Candidates needs at least one field")
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"Candidates fields differ in length: {lengths}")
        self._arrays = {k: _own_copy(v) for k, v in arrays.items()}
        self._n = next(iter(lengths.values()))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._arrays)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_arrays"][name]
        except KeyError:
            raise AttributeError(f"Candidates have no field {name!r} (fields: {', '.join(self.fields)})") from None

    def __getitem__(self, index: Any) -> "Candidates":
        return type(self)(**{k: _take(v, index) for k, v in self._arrays.items()})

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"Candidates(n={self._n}, fields={list(self.fields)})"

    @classmethod
    def concat(cls, parts: Iterable["Candidates"]) -> "Candidates":
        parts = list(parts)
        keys = parts[0].fields
        out = {}
        for k in keys:
            vals = [getattr(p, k) for p in parts]
            out[k] = np.concatenate(vals) if isinstance(vals[0], np.ndarray) else sum((list(v) for v in vals), [])
        return cls(**out)


class Dataset(Candidates):
    """A track's data: named arrays of equal length (``x``, ``y``, ...). Rows are what splits index."""


def _own_copy(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return np.array(v, copy=True)
    return list(v)


def _take(v: Any, index: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v[index]
    idx = np.arange(len(v))[index]
    return [v[i] for i in np.atleast_1d(idx)]


@dataclass(frozen=True)
class TrackInfo:
    """What an attack may know about a track: metadata only, no data and no split."""

    name: str
    version: str
    task: Task
    num_classes: int | None = None
    input_shape: tuple[int, ...] | None = None
    augmentations: tuple[str, ...] = ()  # query augmentations that make sense ("mirror", "shift")
    train_size: int = 0  # size of the target's training set (part of the public recipe)
    extra: Mapping[str, Any] = field(default_factory=dict)


class Predictor:
    """A served model: what an oracle forwards queries to.

    ``QUERIES`` maps each query method to the weakest threat model allowed to call it. Classification
    predictors answer ``predict_labels`` and ``predict_scores`` (probabilities); multimodal ones add their own.
    ``TIMED`` names the query a timing observer times (the service's ordinary answer, which it never sees).
    """

    QUERIES: ClassVar[dict[str, ThreatModel]] = {
        "predict_labels": ThreatModel.LABEL,
        "predict_scores": ThreatModel.SCORES,
    }
    TIMED: ClassVar[str] = "predict_labels"

    def predict_scores(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_scores(x)).argmax(axis=1)


class _Configurable:
    """Shared by attacks and defenses: a name, default params, and overrides checked against them."""

    name: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Any]] = {}
    tasks: ClassVar[tuple[Task, ...]] = (Task.CLASSIFICATION,)
    version: ClassVar[str] = "1"

    def __init__(self, **overrides: Any):
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.params)) or 'none'}"
            )
        # Instance attribute shadows the class defaults, so self.params is always the effective set.
        self.params = {**dict(type(self).params), **overrides}

    def supports(self, task: Task) -> bool:
        return Task(task) in tuple(Task(t) for t in self.tasks)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.params})"


class Attack(_Configurable):
    """A privacy attack. Subclass it, set ``name`` and ``threat_model``, implement ``score``.

    ``score(ctx)`` returns one finite float per candidate, higher = more likely a member (membership
    tasks), or a dict of metrics (integrity tasks). Threshold attacks calibrate on shadow models and
    report their operating point with ``ctx.set_threshold``.
    """

    threat_model: ClassVar[ThreatModel] = ThreatModel.SCORES

    def score(self, ctx: "AttackContext") -> np.ndarray | Mapping[str, float]:  # pragma: no cover
        raise NotImplementedError(f"attack {self.name!r} does not implement score(ctx)")


class Defense(_Configurable):
    """A defense: changes training (``adapt_recipe``, ``train``) and/or serving (``serve``).

    ``none`` is the baseline. Shadow models of an adaptive attacker are trained with the same defense.
    Like attacks, a defense declares the tasks it applies to (classification unless it says otherwise).

    Two declarations tell the harness how to train and cache its models (it never guesses them from
    which methods a subclass overrides):

    * ``changes_training``: True when ``adapt_recipe`` or ``train`` changes the trained model. False
      (serving-only defenses) means the models are exactly the baseline's: they share ``none``'s cached
      weights, and a defense that declares False yet changes the recipe or overrides ``train`` is refused.
    * ``batchable``: True when the defense's training is the plain recipe fit (only ``adapt_recipe``), so the
      harness may train many of its shadow models stacked (``bench.training.fit_many``).
    """

    changes_training: ClassVar[bool] = False
    batchable: ClassVar[bool] = False
    # True when ``serve`` needs per-model state that ``prepare`` fits (MemGuard's defender); declared, so the harness
    # never copies a model's training data for defenses that fit nothing.
    prepares: ClassVar[bool] = False
    # True when the served predictor keeps its answers in ``prepared`` (MemGuard's Phase I searches): the harness then
    # asks each pool model, in its own process and once per group, the queries score attacks make (the pool, plain and
    # with the track's first query augmentation), so attack workers receive them with
    # ``prepared`` instead of redoing them per target and per cell. Each run serves from a private copy
    # (``bench._models.private``); a run with extra candidates (scenario points) serves from copies also asked those
    # (``bench._answers.answered_copies``). The answers must not depend on who asks first, and the state must not
    # reveal the order it was asked in (a worker receives it).
    memoizes_answers: ClassVar[bool] = False

    def training_identity(self) -> dict[str, Any]:
        """What of this defense enters its models' cache keys (the baseline's identity if it trains nothing)."""
        if not self.changes_training:
            return dict(BASELINE_TRAINING)
        return {"name": self.name, "params": self.params, "version": self.version}

    def adapt_recipe(self, recipe: Any) -> Any:
        """Return the training recipe this defense trains with (e.g. with weight decay set)."""
        return recipe

    def reference_size(self, train_size: int) -> int:
        """How many population examples this defense needs beside a training set of ``train_size`` (default 0).

        The harness draws them per model, deterministically from the model's seed, from population units
        disjoint from that model's training set (the same rule for targets and shadows), and hands them over
        as ``trainer.reference`` (training) and to ``prepare`` (serving). Members are never reference data.
        """
        return 0

    def train(self, trainer: "ModelTrainer", data: Dataset) -> "TrainedModel":
        """Train a model on ``data`` with ``trainer`` (a ``bench.ModelTrainer``); default: plain fit.

        Every row of ``data`` is a member the model is scored on: a defense that needs validation, reference
        or distillation data takes it from ``trainer.reference`` (see ``reference_size``), never from ``data``.
        """
        return trainer.fit(data)

    def prepare(self, predictor: Predictor, members: Dataset, reference: Dataset | None, seed: int) -> Any:
        """Fit what serving needs for one trained model (e.g. MemGuard's defender classifier); default: nothing.

        Called by the model layer (where ``prepares`` is declared) once per model, target or shadow, and kept in memory: ``members`` is the
        model's own training data (the defender knows it), ``reference`` its ``reference_size`` population
        examples. A non-None result is passed to ``serve(predictor, prepared)``.
        """
        return None

    def serve(self, predictor: Predictor, prepared: Any = None) -> Predictor:
        """Wrap the trained model's predictor for serving (output perturbation, masking...).

        ``prepared`` is what ``prepare`` fitted for this model; the harness passes it only when not None,
        so ``serve(self, predictor)`` overrides keep working.
        """
        return predictor

    def report(self, trained: "TrainedModel") -> dict[str, Any]:
        """Extra facts recorded with each result (e.g. the DP accountant's epsilon)."""
        return dict(getattr(trained, "extras", {}) or {})


# The cache identity of models trained without any defense; ``none`` has always had this key, so caches stay valid.
BASELINE_TRAINING: Mapping[str, Any] = {"name": "none", "params": {}, "version": "1"}
