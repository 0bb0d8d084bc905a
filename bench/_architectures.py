"""Model architectures by name: the registry that recipes name (``Recipe.arch``) and the built-in families."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ._recipe import Recipe

__all__ = ["ARCHITECTURES", "BATCHED_ARCHITECTURES", "architecture", "build_model"]

# Architectures ``fit_many`` can train stacked: stateless layers only (no batch-norm buffers).
BATCHED_ARCHITECTURES = {"mlp", "cnn"}

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


