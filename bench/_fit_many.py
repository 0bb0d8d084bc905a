"""Batched training: many small models of one recipe at once, parameters stacked and the forward ``vmap``-ed."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ._api import Dataset
from ._architectures import BATCHED_ARCHITECTURES, build_model
from ._recipe import Recipe
from ._trainer import augment_batch
from ._trainer_protocol import ProgressCallback, TrainedModel

__all__ = ["batchable", "fit_many"]


def batchable(recipe: Recipe) -> bool:
    """Whether ``fit_many`` trains this recipe: stateless architectures (no batch-norm buffers), no dropout.

    Dropout is excluded because its masks would be drawn for the whole stack at once, which would
    make one model's weights depend on which other models it was trained with.
    """
    return recipe.arch in BATCHED_ARCHITECTURES and recipe.optimizer in ("sgd", "adam") and not recipe.dropout


@dataclass
class _Stack:
    """The rows each model of a stack trains on, gathered once on the device, and their per-model streams."""

    x: torch.Tensor  # the union of all models' rows
    y: torch.Tensor
    local: list[torch.Tensor]  # model m's rows, as positions in x
    sizes: torch.Tensor
    steps: int  # steps per epoch of the largest model
    total_steps: torch.Tensor  # per model, for its cosine schedule
    generators: list[torch.Generator]


def _stack(recipe: Recipe, data: Dataset, rows: list[np.ndarray], seeds: list[int], device: str) -> _Stack:
    rows = [np.asarray(r, dtype=np.int64) for r in rows]
    union = np.unique(np.concatenate(rows))  # only the rows some model trains on go to the device
    steps = [max(1, math.ceil(len(r) / recipe.batch_size)) for r in rows]
    return _Stack(
        x=torch.as_tensor(np.asarray(data.x[union], dtype=np.float32), device=device),
        y=torch.as_tensor(np.asarray(data.y[union]), device=device),
        local=[torch.as_tensor(np.searchsorted(union, r), device=device) for r in rows],
        sizes=torch.tensor([len(r) for r in rows], device=device),
        steps=max(steps),
        total_steps=torch.tensor([recipe.epochs * s for s in steps], dtype=torch.float32, device=device),
        generators=[torch.Generator().manual_seed(int(s)) for s in seeds],
    )


class _StackedOptimizer:
    """``Trainer``'s update rule (SGD with momentum or Adam, L2 weight decay, cosine schedule) per stacked model."""

    def __init__(self, recipe: Recipe, params: dict[str, torch.Tensor], n_models: int, device: str):
        self.recipe, self.params, self.n_models = recipe, params, n_models
        self.state = {k: torch.zeros_like(p) for k, p in params.items()}
        self.state2 = {k: torch.zeros_like(p) for k, p in params.items()} if recipe.optimizer == "adam" else {}
        self.t = torch.zeros(n_models, device=device)  # updates done per model

    @torch.no_grad()
    def step(self, grads: dict[str, torch.Tensor], active: torch.Tensor, total_steps: torch.Tensor) -> None:
        r = self.recipe
        lr = torch.full((self.n_models,), r.lr, device=active.device)
        if r.schedule == "cosine":
            lr = lr * 0.5 * (1 + torch.cos(math.pi * self.t / total_steps))
        all_active = bool(active.all())
        lr = torch.where(active, lr, torch.zeros_like(lr))  # an idle model does not move
        t_next = self.t + active.float()
        for k, g in grads.items():
            p = self.params[k]
            shape = (self.n_models,) + (1,) * (p.dim() - 1)
            if r.weight_decay:
                g = g.add(p, alpha=r.weight_decay)
            upd = self._update(k, g, active.view(shape), all_active, t_next.clamp(min=1).view(shape))
            p.sub_(lr.view(shape) * upd)
        self.t = t_next

    def _update(self, k: str, g: torch.Tensor, act: torch.Tensor, all_active: bool, tt: torch.Tensor) -> torch.Tensor:
        r = self.recipe
        if r.optimizer == "sgd":
            if not r.momentum:
                return g
            if all_active:  # the common case, in place
                return self.state[k].mul_(r.momentum).add_(g)
            upd = self.state[k] * r.momentum + g
            self.state[k] = torch.where(act, upd, self.state[k])
            return upd
        b1, b2 = 0.9, 0.999  # adam, torch's defaults
        self.state[k] = torch.where(act, self.state[k] * b1 + (1 - b1) * g, self.state[k])
        self.state2[k] = torch.where(act, self.state2[k] * b2 + (1 - b2) * g * g, self.state2[k])
        return (self.state[k] / (1 - b1**tt)) / ((self.state2[k] / (1 - b2**tt)).sqrt() + 1e-8)


def fit_many(recipe: Recipe, data: Dataset, rows: list[np.ndarray], seeds: list[int], *, input_shape: tuple[int, ...], num_classes: int,
             device: str = "cpu", progress: ProgressCallback | None = None) -> list[TrainedModel]:
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
    models = []
    for s in seeds:
        torch.manual_seed(int(s))
        models.append(build_model(recipe, input_shape, num_classes).to(device))
    params, buffers = stack_module_state(models)
    base = build_model(recipe, input_shape, num_classes).to("meta")
    forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))
    stack = _stack(recipe, data, rows, seeds, device)
    opt = _StackedOptimizer(recipe, params, len(seeds), device)
    for epoch in range(recipe.epochs):
        _stacked_epoch(recipe, stack, params, buffers, forward, opt)
        if progress is not None:
            progress(epoch + 1, recipe.epochs)
    seconds = (time.perf_counter() - start) / len(seeds)  # each model's share of the wall time
    out = []
    for m, model in enumerate(models):
        model.load_state_dict({k: params[k][m].detach().clone() for k in params}, strict=False)
        model.eval()
        out.append(TrainedModel(model, seconds, {}, fitted=np.unique(np.asarray(rows[m], dtype=np.int64))))
    return out


def _stacked_epoch(recipe: Recipe, stack: _Stack, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                   forward: Callable[..., torch.Tensor], opt: _StackedOptimizer) -> None:
    """One epoch of every model: per-model shuffles, padded to the longest epoch; padded slots carry weight 0."""
    n_models, bs = len(stack.local), recipe.batch_size
    device = stack.x.device
    order = torch.zeros(n_models, stack.steps * bs, dtype=torch.long, device=device)
    for m, g in enumerate(stack.generators):
        perm = torch.randperm(len(stack.local[m]), generator=g).to(device)
        order[m, : len(perm)] = stack.local[m][perm]
    loss_fn = nn.CrossEntropyLoss(reduction="none", label_smoothing=recipe.label_smoothing)
    ar = torch.arange(bs, device=device)
    for step in range(stack.steps):
        weight = ((step * bs + ar)[None, :] < stack.sizes[:, None]).float()  # (M, B)
        idx = order[:, step * bs : (step + 1) * bs]
        xb, yb = stack.x[idx], stack.y[idx]
        if recipe.augment:
            xb = _augment_each(xb, weight, recipe.augment, stack.generators)
        logits = forward(params, buffers, xb)
        per = loss_fn(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1)).view(n_models, -1)
        loss = ((per * weight).sum(1) / weight.sum(1).clamp(min=1)).sum()
        grads = torch.autograd.grad(loss, list(params.values()))
        opt.step(dict(zip(params, grads)), weight.sum(1) > 0, stack.total_steps)


def _augment_each(xb: torch.Tensor, weight: torch.Tensor, kinds: tuple[str, ...], generators: list[torch.Generator]) -> torch.Tensor:
    """Augment each model's real rows only, from its own stream, as ``Trainer.fit`` would."""
    valid = weight.sum(1).long().tolist()
    xb = xb.clone()
    for m, n in enumerate(valid):
        if n:
            xb[m, :n] = augment_batch(xb[m, :n].cpu(), kinds, generators[m]).to(xb.device)
    return xb
