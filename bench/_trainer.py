"""The classifier trainer: one seeded fit loop with hooks (``bench.ModelTrainer``), shared by every trainer.

The loop is the hot path of the CPU tracks (every target and shadow model runs it), so per step it does
only what training needs: slice the epoch's pre-shuffled rows, forward, backward, a fused optimizer step.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable, ClassVar, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from ._api import Dataset
from ._architectures import build_model
from ._recipe import Recipe
from ._trainer_protocol import ROW_FIELD, EpochCallback, FitHooks, FitLoop, FitStep, ProgressCallback, TrainedModel

__all__ = ["Trainer", "augment_batch", "default_device", "make_optimizer", "shuffled_batches"]

OPTIMIZERS = ("sgd", "adam", "adamw")


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def make_optimizer(params: Iterable[torch.Tensor], recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer: ``sgd`` (momentum, coupled L2), ``adam`` (coupled L2) or ``adamw`` (decoupled decay).

    ``foreach``: one fused update over all parameters instead of a Python loop per tensor (also on CPU,
    where torch does not pick it by default); the arithmetic is the same.
    """
    params = list(params)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay, foreach=True)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay, foreach=True)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, foreach=True)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r} in recipe ({' | '.join(OPTIMIZERS)})")


def augment_batch(x: torch.Tensor, kinds: tuple[str, ...], generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random training augmentations on an (N, C, H, W) batch: "mirror" flips, "shift" translates."""
    if "mirror" in kinds:
        flip = torch.rand(len(x), generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if "shift" in kinds and x.dim() == 4:
        pad = nn.functional.pad(x, (max_shift,) * 4)
        dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
        x = pad[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]
    return x


def shuffled_batches(inputs: Any, targets: Any, batch_size: int, generator: torch.Generator) -> Callable[[int], Iterator[tuple[Any, Any]]]:
    """Per epoch, a fresh permutation from ``generator`` cut into minibatches of (inputs, targets).

    Tensors are gathered once per epoch and sliced (views, no per-step gather); lists (captions) by index.
    """

    def take(seq: Any, order: torch.Tensor) -> Any:
        return seq[order] if isinstance(seq, torch.Tensor) else [seq[j] for j in order.tolist()]

    def epoch(_: int) -> Iterator[tuple[Any, Any]]:
        order = torch.randperm(len(inputs), generator=generator)
        xs, ys = take(inputs, order), take(targets, order)
        for i in range(0, len(order), batch_size):
            yield xs[i : i + batch_size], ys[i : i + batch_size]

    return epoch


def _to(value: Any, device: str) -> Any:
    return value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value


class Trainer:
    """Fits classifiers of one recipe, seeded: same seed, same data → same weights on CPU (``bench.ModelTrainer``)."""

    # On CUDA: bf16 autocast and channels-last convolutions (airbench-style speed); CPU training is unchanged.
    cuda_fast_path: ClassVar[bool] = True

    def __init__(self, recipe: Recipe, *, input_shape: tuple[int, ...], num_classes: int | None, seed: int, device: str = "cpu", progress: ProgressCallback | None = None):
        self.recipe = recipe
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.seed = int(seed)
        self.device = device
        self.progress = progress
        self.reference: Dataset | None = None  # the defender's population data (``Defense.reference_size``)
        self.fit_log: list[np.ndarray] = []  # the rows each ``fit`` trained on (``ROW_FIELD``), shared with reseeded copies

    def reseeded(self, seed: int) -> "Trainer":
        """The same trainer with another seed (and no progress bar), e.g. for a defense's auxiliary model.

        It shares the reference data and the fit log: what an auxiliary model fits counts as fitted."""
        other = Trainer(self.recipe, input_shape=self.input_shape, num_classes=self.num_classes, seed=seed, device=self.device)
        other.reference, other.fit_log = self.reference, self.fit_log
        return other

    def fitted_rows(self) -> np.ndarray | None:
        """Sorted unique rows fitted so far by this trainer and its reseeded copies (None: no fit saw row ids)."""
        return np.unique(np.concatenate(self.fit_log)) if self.fit_log else None

    def build_model(self, recipe: Recipe | None = None) -> nn.Module:
        torch.manual_seed(self.seed)
        return build_model(recipe or self.recipe, self.input_shape, self.num_classes).to(self.device)

    def optimizer(self, model: nn.Module, recipe: Recipe | None = None) -> torch.optim.Optimizer:
        return make_optimizer(model.parameters(), recipe or self.recipe)

    def loss_fn(self, recipe: Recipe | None = None) -> Callable[..., torch.Tensor]:
        return nn.CrossEntropyLoss(label_smoothing=(recipe or self.recipe).label_smoothing)

    def training_tensors(self, data: Dataset, targets: Any) -> tuple[Any, Any]:
        """The whole training set as (inputs, targets) on the CPU; ``targets`` (soft labels) replaces ``data.y``."""
        return torch.as_tensor(np.asarray(data.x, dtype=np.float32)), torch.as_tensor(np.asarray(targets if targets is not None else data.y))

    def step_loss(self, loop: FitLoop, inputs: Any, targets: Any) -> tuple[Any, torch.Tensor]:
        """(outputs, loss) of one minibatch."""
        outputs = loop.model(inputs)
        return outputs, loop.loss_fn(outputs, targets)

    def fit(self, data: Dataset, *, model: nn.Module | None = None, recipe: Recipe | None = None, targets: Any = None,
            on_epoch: EpochCallback | None = None, hooks: FitHooks | None = None) -> TrainedModel:
        """Train on ``data`` (or soft ``targets``, e.g. for distillation); ``hooks`` plug a defense into the loop."""
        r = recipe or self.recipe
        start = time.perf_counter()
        if ROW_FIELD in data.fields:  # the trainer's own record of what it fits, whatever the defense says
            self.fit_log.append(np.asarray(getattr(data, ROW_FIELD), dtype=np.int64))
        model = model if model is not None else self.build_model(r)
        torch.manual_seed(self.seed)  # dropout draws from the global generator
        gen = torch.Generator().manual_seed(self.seed)
        x, y = self.training_tensors(data, targets)
        cuda = str(self.device).startswith("cuda") and self.cuda_fast_path
        if cuda and isinstance(x, torch.Tensor) and x.dim() == 4:
            model = model.to(memory_format=torch.channels_last)
        loop = FitLoop(model, self.optimizer(model, r), self.loss_fn(r), shuffled_batches(x, y, r.batch_size, gen),
                       max(1, math.ceil(len(x) / r.batch_size)), x, y, gen, mixed_precision=cuda)
        if hooks is not None:
            loop = hooks.setup(loop)
        self._run_epochs(loop, r, hooks, on_epoch)
        model.eval()
        return TrainedModel(model, time.perf_counter() - start)

    def _run_epochs(self, loop: FitLoop, r: Recipe, hooks: FitHooks | None, on_epoch: EpochCallback | None) -> None:
        opt = loop.optimizer
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs * loop.steps_per_epoch) if r.schedule == "cosine" else None
        cuda = str(self.device).startswith("cuda") and loop.mixed_precision
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
        transfer = not str(self.device).startswith("cpu")  # batches are built on the CPU
        loop.model.train()
        for epoch in range(r.epochs):
            for step, (xb, yb) in enumerate(loop.batches(epoch)):
                if len(xb) == 0:  # e.g. Poisson sampling (DP-SGD) can draw an empty batch
                    continue
                if r.augment:
                    xb = augment_batch(xb, r.augment, loop.generator)
                if transfer:
                    xb, yb = _to(xb, self.device), _to(yb, self.device)
                state = FitStep(epoch, step, loop, xb, yb) if hooks is not None else None
                if state is not None:
                    hooks.before_step(state)  # type: ignore[union-attr]
                opt.zero_grad(set_to_none=True)
                with autocast:
                    outputs, loss = self.step_loss(loop, xb, yb)
                    if state is not None:
                        loss = hooks.training_loss(state, outputs, loss)  # type: ignore[union-attr]
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
            stop = bool(on_epoch(epoch, loop.model)) if on_epoch is not None else False
            stop = (hooks is not None and hooks.after_epoch(epoch, loop.model)) or stop
            if stop:
                break
            if self.progress is not None:
                self.progress(epoch + 1, r.epochs)
