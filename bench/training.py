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
    "batchable",
    "fit_many",
    "BATCHED_ARCHITECTURES",
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


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]


class _Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


@architecture("airbench")
def airbench(input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.0, widths: tuple[int, ...] = (64, 256, 256)) -> nn.Module:
    """An airbench-style CIFAR net (Jordan 2024): a stem conv, three conv-pool-BN-GELU blocks, max-pool, linear.

    About 94% on CIFAR-10 in ~10 epochs with large batches, label smoothing, flips and shifts; seconds per model on one GPU.
    """
    c = input_shape[0]
    layers: list[nn.Module] = [nn.Conv2d(c, 24, 2, padding=0, bias=True), nn.GELU()]
    c = 24
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(w), nn.GELU(), *_conv_bn(w, w)]
        c = w
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(c, num_classes, bias=False), _Scale(1 / 9)]
    return nn.Sequential(*layers)


class _WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.short = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if (stride != 1 or c_in != c_out) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.bn1(x))
        y = self.conv1(o)
        y = self.conv2(self.drop(torch.relu(self.bn2(y))))
        return y + (self.short(o) if self.short is not None else x)


@architecture("wrn")
def wrn(input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.0, depth: int = 28, width: int = 2) -> nn.Module:
    """Wide ResNet (Zagoruyko & Komodakis 2016); WRN-28-2 is the LiRA paper's CIFAR target."""
    n = (depth - 4) // 6
    widths = [16, 16 * width, 32 * width, 64 * width]
    layers: list[nn.Module] = [nn.Conv2d(input_shape[0], widths[0], 3, 1, 1, bias=False)]
    c = widths[0]
    for i, w in enumerate(widths[1:]):
        for j in range(n):
            layers.append(_WideBlock(c, w, 2 if (i > 0 and j == 0) else 1, dropout))
            c = w
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
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


def _null_context() -> Any:
    import contextlib

    return contextlib.nullcontext()


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
        # On CUDA: bf16 autocast and channels-last convolutions (airbench-style speed); CPU training is unchanged.
        cuda = str(self.device).startswith("cuda")
        if cuda and x.dim() == 4:
            model = model.to(memory_format=torch.channels_last)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else _null_context()
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
                with autocast:
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


# -- batched training: many small models at once -----------------------------------------------

BATCHED_ARCHITECTURES = {"mlp", "cnn"}


def batchable(recipe: Recipe) -> bool:
    """Whether ``fit_many`` trains this recipe: stateless architectures (no batch-norm buffers), no dropout.

    Dropout is excluded because its masks would be drawn for the whole stack at once, which would
    make one model's weights depend on which other models it was trained with.
    """
    return recipe.arch in BATCHED_ARCHITECTURES and recipe.optimizer in ("sgd", "adam") and not recipe.dropout


def fit_many(
    recipe: Recipe,
    data: Dataset,
    rows: list[np.ndarray],
    seeds: list[int],
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> list[TrainedModel]:
    """Train ``len(seeds)`` models of one recipe together, model i on ``data[rows[i]]`` with seed i.

    Parameters are stacked and the forward pass is ``vmap``-ed over models (``torch.func``), so 16
    small models cost a few large batched matmuls per step instead of 16 small ones. Each model keeps
    its own initialization (``torch.manual_seed(seed)``, as ``Trainer``), data order and augmentation
    stream (a generator seeded with its seed), learning-rate schedule (its own number of steps) and
    optimizer state, so a model's weights do not depend on the others in the stack. The algorithm is
    ``Trainer.fit``'s (SGD with momentum or Adam, L2 weight decay, cosine schedule, label smoothing);
    the random streams differ, so weights are not bitwise those of one-at-a-time training.
    """
    from torch.func import functional_call, stack_module_state, vmap

    if not batchable(recipe):
        raise ValueError(f"recipe {recipe.arch!r} (optimizer {recipe.optimizer!r}, dropout {recipe.dropout}) cannot be trained batched")
    if len(rows) != len(seeds) or not seeds:
        raise ValueError(f"fit_many needs one row set per seed, got {len(rows)} row sets and {len(seeds)} seeds")
    start = time.perf_counter()
    n_models, bs = len(seeds), recipe.batch_size
    models = []
    for s in seeds:
        torch.manual_seed(int(s))
        models.append(build_model(recipe, input_shape, num_classes).to(device))
    params, buffers = stack_module_state(models)
    names = list(params)
    base = build_model(recipe, input_shape, num_classes).to("meta")

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    batched = vmap(forward)

    # Only the rows some model trains on go to the device; each model indexes into them.
    rows = [np.asarray(r, dtype=np.int64) for r in rows]
    union = np.unique(np.concatenate(rows))
    x_all = torch.as_tensor(np.asarray(data.x[union], dtype=np.float32), device=device)
    y_all = torch.as_tensor(np.asarray(data.y[union]), device=device)
    local = [torch.as_tensor(np.searchsorted(union, r), device=device) for r in rows]
    sizes = torch.tensor([len(r) for r in rows], device=device)
    steps = [max(1, math.ceil(len(r) / bs)) for r in rows]
    max_steps = max(steps)
    total_steps = torch.tensor([recipe.epochs * s for s in steps], dtype=torch.float32, device=device)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]

    state = {k: torch.zeros_like(params[k]) for k in names}
    state2 = {k: torch.zeros_like(params[k]) for k in names} if recipe.optimizer == "adam" else {}
    t = torch.zeros(n_models, device=device)  # updates done per model
    loss_fn = nn.CrossEntropyLoss(reduction="none", label_smoothing=recipe.label_smoothing)
    ar = torch.arange(bs, device=device)

    for epoch in range(recipe.epochs):
        # Per-model shuffles, padded to the longest epoch; padded slots carry weight 0.
        order = torch.zeros(n_models, max_steps * bs, dtype=torch.long, device=device)
        for m, g in enumerate(gens):
            perm = torch.randperm(len(rows[m]), generator=g).to(device)
            order[m, : len(perm)] = local[m][perm]
        for step in range(max_steps):
            pos = step * bs + ar
            weight = (pos[None, :] < sizes[:, None]).float()  # (M, B)
            active = weight.sum(1) > 0
            idx = order[:, step * bs : (step + 1) * bs]
            xb, yb = x_all[idx], y_all[idx]
            if recipe.augment:
                # Augment each model's real rows only, from its own stream, as Trainer.fit would.
                valid = weight.sum(1).long().tolist()
                xb = xb.clone()
                for m in range(n_models):
                    if valid[m]:
                        xb[m, : valid[m]] = augment_batch(xb[m, : valid[m]].cpu(), recipe.augment, gens[m]).to(device)
            logits = batched(params, buffers, xb)
            per = loss_fn(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1)).view(n_models, -1)
            loss = ((per * weight).sum(1) / weight.sum(1).clamp(min=1)).sum()
            grads = torch.autograd.grad(loss, [params[k] for k in names])
            with torch.no_grad():
                lr = torch.full((n_models,), recipe.lr, device=device)
                if recipe.schedule == "cosine":
                    lr = lr * 0.5 * (1 + torch.cos(math.pi * t / total_steps))
                all_active = bool(active.all())
                lr = torch.where(active, lr, torch.zeros_like(lr))  # an idle model does not move
                t_next = t + active.float()
                for k, g in zip(names, grads):
                    p = params[k]
                    shape = (n_models,) + (1,) * (p.dim() - 1)
                    if recipe.weight_decay:
                        g = g.add(p, alpha=recipe.weight_decay)
                    if recipe.optimizer == "sgd":
                        if recipe.momentum:
                            if all_active:  # the common case, in place
                                upd = state[k].mul_(recipe.momentum).add_(g)
                            else:
                                upd = state[k] * recipe.momentum + g
                                state[k] = torch.where(active.view(shape), upd, state[k])
                        else:
                            upd = g
                    else:  # adam, torch's defaults
                        b1, b2 = 0.9, 0.999
                        act = active.view(shape)
                        state[k] = torch.where(act, state[k] * b1 + (1 - b1) * g, state[k])
                        state2[k] = torch.where(act, state2[k] * b2 + (1 - b2) * g * g, state2[k])
                        tt = t_next.clamp(min=1).view(shape)
                        upd = (state[k] / (1 - b1**tt)) / ((state2[k] / (1 - b2**tt)).sqrt() + 1e-8)
                    p.sub_(lr.view(shape) * upd)
                t = t_next
        if progress is not None:
            progress(epoch + 1, recipe.epochs)

    seconds = (time.perf_counter() - start) / n_models  # each model's share of the wall time
    out = []
    for m, model in enumerate(models):
        model.load_state_dict({k: params[k][m].detach().clone() for k in names}, strict=False)
        model.eval()
        out.append(TrainedModel(model, seconds, {}))
    return out
