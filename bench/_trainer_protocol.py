"""The trainer protocol: what a defense's ``train`` receives, and the hooks it plugs into a fit. No torch here.

Every trainer (``bench.training.Trainer`` for classifiers, the multimodal tracks' trainer) runs one loop,
``fit``. A defense that changes the optimisation does not write its own epoch loop: it passes ``FitHooks``
to ``fit`` and replaces the parts of the loop it needs (DP-SGD wraps model, optimizer, loss and batches in
``setup``; adversarial regularization adds inference-model steps in ``before_step`` and a term in ``training_loss``;
early stopping watches ``after_epoch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from ._api import Dataset
    from ._recipe import Recipe

__all__ = ["ROW_FIELD", "TrainedModel", "FitLoop", "FitStep", "FitHooks", "ModelTrainer", "EpochCallback", "ProgressCallback"]

# The field the harness adds to the data it trains on: each example's row in the track's data. Trainers log it
# for every ``fit`` (``TrainedModel.fitted``); a defense that derives new inputs from members carries it along.
ROW_FIELD = "row"

EpochCallback = Callable[[int, Any], "bool | None"]  # (epoch, model) -> True to stop training
ProgressCallback = Callable[[int, int], None]  # (epochs done, epochs in all)


@dataclass
class TrainedModel:
    """A fitted module plus what it cost and anything a defense wants recorded (``extras``).

    ``fitted``: the dataset rows the trainer fitted as training inputs (every ``fit`` of the model's trainer
    and its ``reseeded`` copies), set by the harness from the trainer's own log, not by the defense.
    """

    module: Any
    train_seconds: float
    extras: dict[str, Any] = field(default_factory=dict)
    fitted: Any = None


@dataclass
class FitLoop:
    """The parts of one ``fit`` that ``FitHooks.setup`` may replace.

    ``inputs``/``targets`` are the whole training set (CPU tensors, or a list of captions for image–text
    trainers); ``batches(epoch)`` yields that epoch's (inputs, targets) minibatches, still on the CPU;
    ``generator`` is the fit's seeded ``torch.Generator`` (shuffles, augmentation): a hook that draws
    randomness from it keeps the fit deterministic. ``mixed_precision``: bf16 autocast where the device has it.
    """

    model: Any
    optimizer: Any
    loss_fn: Callable[..., Any]
    batches: Callable[[int], Iterable[tuple[Any, Any]]]
    steps_per_epoch: int
    inputs: Any
    targets: Any
    generator: Any
    mixed_precision: bool = True


@dataclass
class FitStep:
    """One minibatch step as hooks see it: its position, the loop, and the batch (already on the device)."""

    epoch: int
    step: int
    loop: FitLoop
    inputs: Any
    targets: Any


class FitHooks:
    """Callbacks into one ``fit``; each default does nothing. Subclass it and override what you need."""

    def setup(self, loop: FitLoop) -> FitLoop:
        """Before the first epoch: return the loop to run (e.g. with a wrapped model and optimizer)."""
        return loop

    def before_step(self, step: FitStep) -> None:
        """Before the model's forward pass of each step (e.g. an adversary's own updates)."""

    def training_loss(self, step: FitStep, outputs: Any, loss: Any) -> Any:
        """The loss to minimise this step, given the model's outputs and the recipe's loss (e.g. plus a regularizer)."""
        return loss

    def after_epoch(self, epoch: int, model: Any) -> bool:
        """After each epoch; return True to stop training there."""
        return False


@runtime_checkable
class ModelTrainer(Protocol):
    """What every trainer offers a defense (``Defense.train(trainer, data)``).

    ``fit`` trains on ``data`` (or on soft ``targets``, one row per example, where the trainer supports them)
    with the recipe (or ``recipe``), starting from ``model`` or a fresh ``build_model()``. ``on_epoch`` is a
    shorthand for ``FitHooks.after_epoch``. Same seed, same data → same weights on CPU.
    """

    recipe: "Recipe"
    seed: int
    device: str
    num_classes: int | None
    progress: ProgressCallback | None
    reference: "Dataset | None"  # the defender's population data beside the members (``Defense.reference_size``)

    def build_model(self, recipe: "Recipe | None" = None) -> Any: ...

    def optimizer(self, model: Any, recipe: "Recipe | None" = None) -> Any: ...

    def loss_fn(self, recipe: "Recipe | None" = None) -> Callable[..., Any]: ...

    def reseeded(self, seed: int) -> "ModelTrainer": ...

    def fit(
        self,
        data: "Dataset",
        *,
        model: Any = None,
        recipe: "Recipe | None" = None,
        targets: Any = None,
        on_epoch: EpochCallback | None = None,
        hooks: FitHooks | None = None,
    ) -> TrainedModel: ...
