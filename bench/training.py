"""Training engine (public submodule): build a model from a recipe, fit it deterministically, predict.

Plugins import this lazily (inside methods), since it imports torch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ._api import Dataset, Predictor
from ._recipe import Recipe

__all__ = [
    "ARCHITECTURES",
    "architecture",
    "build_model",
    "Trainer",
    "TrainedModel",
    "ClassifierPredictor",
    "predict_logits",
    "accuracy",
    "augment_batch",
    "default_device",
]

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}


def architecture(name: str) -> Callable:
    """Register a model builder ``fn(input_shape, num_classes, dropout, **arch_params) -> nn.Module``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ARCHITECTURES[name] = fn
        return fn

    return deco


@architecture("mlp")
def mlp(input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.0, hidden: tuple[int, ...] = (256,)) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@architecture("cnn")
def cnn(input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.0, channels: tuple[int, ...] = (32, 64), hidden: int = 128) -> nn.Module:
    """A small LeNet-style CNN (the ML-Leaks / Hintersdorf et al. target family)."""
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for ch in channels:
        layers += [nn.Conv2d(c, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = ch, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, num_classes))
    return nn.Sequential(*layers)


def build_model(recipe: Recipe, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    try:
        builder = ARCHITECTURES[recipe.arch]
    except KeyError:
        raise ValueError(f"unknown architecture {recipe.arch!r}; known: {', '.join(sorted(ARCHITECTURES))}") from None
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in recipe.arch_params.items()}
    return builder(tuple(input_shape), num_classes, dropout=recipe.dropout, **params)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class TrainedModel:
    """A fitted module plus what it cost and anything a defense wants recorded."""

    module: nn.Module
    train_seconds: float
    extras: dict[str, Any] = field(default_factory=dict)


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


class Trainer:
    """Fits models of one recipe, seeded: same seed, same data → same weights on CPU."""

    def __init__(self, recipe: Recipe, *, input_shape: tuple[int, ...], num_classes: int, seed: int, device: str = "cpu", progress: Callable[[int, int], None] | None = None):
        self.recipe = recipe
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.seed = int(seed)
        self.device = device
        self.progress = progress

    def build_model(self, recipe: Recipe | None = None) -> nn.Module:
        torch.manual_seed(self.seed)
        return build_model(recipe or self.recipe, self.input_shape, self.num_classes).to(self.device)

    def optimizer(self, model: nn.Module, recipe: Recipe | None = None) -> torch.optim.Optimizer:
        r = recipe or self.recipe
        if r.optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
        if r.optimizer == "adam":
            return torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
        raise ValueError(f"unknown optimizer {r.optimizer!r} in recipe (sgd | adam)")

    def loss_fn(self, recipe: Recipe | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        r = recipe or self.recipe
        return nn.CrossEntropyLoss(label_smoothing=r.label_smoothing)

    def fit(
        self,
        data: Dataset,
        *,
        model: nn.Module | None = None,
        recipe: Recipe | None = None,
        targets: np.ndarray | None = None,
        on_epoch: Callable[[int, nn.Module], None] | None = None,
    ) -> TrainedModel:
        """Train on ``data.x``/``data.y`` (or soft ``targets``, e.g. for distillation)."""
        r = recipe or self.recipe
        start = time.perf_counter()
        model = model if model is not None else self.build_model(r)
        torch.manual_seed(self.seed)  # dropout draws from the global generator
        gen = torch.Generator().manual_seed(self.seed)
        x = torch.as_tensor(np.asarray(data.x, dtype=np.float32))
        y = torch.as_tensor(np.asarray(targets if targets is not None else data.y))
        opt = self.optimizer(model, r)
        steps_per_epoch = max(1, math.ceil(len(x) / r.batch_size))
        sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs * steps_per_epoch)
            if r.schedule == "cosine"
            else None
        )
        loss_fn = self.loss_fn(r)
        model.train()
        for epoch in range(r.epochs):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), r.batch_size):
                idx = order[i : i + r.batch_size]
                xb = x[idx]
                if r.augment:
                    xb = augment_batch(xb, r.augment, gen)
                xb, yb = xb.to(self.device), y[idx].to(self.device)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
            if on_epoch is not None:
                on_epoch(epoch, model)
            if self.progress is not None:
                self.progress(epoch + 1, r.epochs)
        model.eval()
        return TrainedModel(model, time.perf_counter() - start)


@torch.no_grad()
def predict_logits(module: nn.Module, x: np.ndarray, device: str | None = None, batch_size: int = 2048) -> np.ndarray:
    device = device or next(module.parameters()).device.type
    module.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(np.asarray(x[i : i + batch_size], dtype=np.float32), device=device)
        out.append(module(xb).double().cpu().numpy())
    if not out:
        return np.zeros((0, 0))
    return np.concatenate(out)


def accuracy(module: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) == 0:
        return float("nan")
    return float((predict_logits(module, x).argmax(1) == np.asarray(y)).mean())


class ClassifierPredictor(Predictor):
    """Serves a classifier: probabilities from a softmax over its logits, computed in float64."""

    def __init__(self, module: nn.Module):
        self._module = module

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        return predict_logits(self._module, x)

    def predict_scores(self, x: np.ndarray) -> np.ndarray:
        z = self.predict_logits(x)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)
