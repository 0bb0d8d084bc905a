"""SimCLR encoders for the ``ssl-encoder`` tracks: model, trainer and the embeddings-only predictor.

Imported lazily (torch, torchvision, lightly). The encoder is the recipe's backbone (an MLP, hidden 1024, in the
default recipes; a small CNN as an option) with lightly's SimCLR projection head; training minimizes lightly's
NT-Xent loss between two views of each image. The views are our own batched ``simclr_views`` (random resized crop,
flip, brightness/contrast jitter), not lightly's per-image ``SimCLRTransform`` (2–3 ms per image here). Deliberate
departures from SimCLR's defaults, for a small-data memorisation regime on CPU: crop area from ``min_scale`` = 0.8
(not 0.08), no Gaussian blur, jitter strength 0.5, 14×14 inputs, 600 epochs at temperature 0.1.
The served encoder answers with backbone embeddings only: no labels, and never the projection head.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from bench import Predictor, ThreatModel

from ._mm_models import one_thread

__all__ = ["SimCLREncoder", "SslTrainer", "EncoderPredictor", "simclr_views", "embed", "linear_probe_accuracy"]


def simclr_views(x: torch.Tensor, spec: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """One SimCLR view of each image (n, C, H, W) in [0, 1], drawn per image but computed for the whole batch.

    SimCLR's augmentation for grayscale data (Chen et al., 2020), with the parameter names of lightly's
    ``SimCLRTransform``: a random resized crop (area ``min_scale``..1, aspect ratio 3/4..4/3) and a
    horizontal flip (``hf_prob``) as one affine resampling, then, with probability ``cj_prob``, brightness and
    contrast jitter of strength ``cj_strength`` × ``cj_bright`` / ``cj_contrast``. lightly's transform does the
    same on PIL images one at a time: 2-3 ms an image on this CPU, more than the training step itself.
    """
    from torch.nn import functional as F

    n = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)
    area, ratio = u(float(spec.get("min_scale", 0.08)), 1.0), torch.exp(u(math.log(3 / 4), math.log(4 / 3)))
    w, h = torch.sqrt(area * ratio).clamp(max=1.0), torch.sqrt(area / ratio).clamp(max=1.0)
    cx, cy = u(-1.0, 1.0) * (1 - w), u(-1.0, 1.0) * (1 - h)
    flip = torch.where(torch.rand(n, generator=gen) < float(spec.get("hf_prob", 0.5)), -1.0, 1.0)
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([w * flip, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
    out = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False, padding_mode="border")
    s = float(spec.get("cj_strength", 1.0))
    jitter = (torch.rand(n, generator=gen) < float(spec.get("cj_prob", 0.8))).view(n, 1, 1, 1)
    bright = (1 + u(-1.0, 1.0) * s * float(spec.get("cj_bright", 0.8))).view(n, 1, 1, 1)
    contrast = (1 + u(-1.0, 1.0) * s * float(spec.get("cj_contrast", 0.8))).view(n, 1, 1, 1)
    lit = out * bright
    mean = lit.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(jitter, ((lit - mean) * contrast + mean).clamp(0, 1), out)


class SimCLREncoder(nn.Module):
    """Backbone (the encoder: an MLP, or a small CNN) + lightly's SimCLR projection head (training only)."""

    def __init__(self, input_shape: tuple[int, ...], kind: str = "mlp", hidden: tuple[int, ...] = (512,), dim: int = 128, proj_dim: int = 64):
        super().__init__()
        from lightly.models.modules import SimCLRProjectionHead

        layers: list[nn.Module] = []
        if kind == "cnn":
            c_in = input_shape[0]
            for c in hidden:
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2) if input_shape[-1] >= 16 else nn.Identity()]
                c_in = c
            layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten()]
            width = c_in * 4
        elif kind == "mlp":
            layers.append(nn.Flatten())
            width = math.prod(input_shape)
            for h in hidden:
                layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU()]
                width = h
        else:
            raise ValueError(f"ssl encoder kind must be 'mlp' or 'cnn', not {kind!r}")
        self.backbone = nn.Sequential(*layers, nn.Linear(width, dim))
        self.head = SimCLRProjectionHead(dim, dim, proj_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def build_encoder(recipe: Any, input_shape: tuple[int, ...]) -> SimCLREncoder:
    a = dict(recipe.arch_params)
    return SimCLREncoder(input_shape, str(a.get("kind", "mlp")), tuple(a.get("hidden", (512,))), int(a.get("dim", 128)), int(a.get("proj_dim", 64)))


class SslTrainer:
    """SimCLR training (two views per image, NT-Xent), deterministic in ``seed`` on CPU."""

    def __init__(self, recipe: Any, input_shape: tuple[int, ...], augmentation: dict[str, Any], seed: int, device: str = "cpu", progress: Any = None):
        self.recipe = recipe
        self.input_shape = tuple(input_shape)
        self.augmentation = dict(augmentation)
        self.seed = int(seed)
        self.device = device
        self.progress = progress

    def fit(self, data: Any) -> Any:
        from lightly.loss import NTXentLoss

        from bench.training import TrainedModel

        start = time.perf_counter()
        r = self.recipe
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        model = build_encoder(r, self.input_shape).to(self.device)
        opt = torch.optim.Adam(model.parameters(), lr=float(r.lr), weight_decay=float(r.weight_decay))
        loss_fn = NTXentLoss(temperature=float(dict(r.arch_params).get("temperature", 0.5)))
        images = torch.as_tensor(np.asarray(data.x, dtype=np.float32))
        model.train()
        with one_thread():
            loss = self._epochs(model, opt, loss_fn, images, gen)
        model.eval()
        return TrainedModel(model, time.perf_counter() - start, {"final_loss": round(float(loss), 4)})

    def _epochs(self, model: nn.Module, opt: Any, loss_fn: Any, images: torch.Tensor, gen: torch.Generator) -> Any:
        r = self.recipe
        loss = torch.zeros(())
        for epoch in range(int(r.epochs)):
            order = torch.randperm(len(images), generator=gen)
            for i in range(0, len(order) - 1, int(r.batch_size)):
                batch = images[order[i : i + int(r.batch_size)]]
                v0 = simclr_views(batch, self.augmentation, gen).to(self.device)
                v1 = simclr_views(batch, self.augmentation, gen).to(self.device)
                loss = loss_fn(model.head(model(v0)), model.head(model(v1)))
                opt.zero_grad()
                loss.backward()
                opt.step()
            if self.progress:
                self.progress(epoch + 1, int(r.epochs))
        return loss.detach()


@torch.no_grad()
def embed(module: nn.Module, x: Any, batch_size: int = 512) -> np.ndarray:
    """Backbone embeddings of images (n, C, H, W) in [0, 1]."""
    module.eval()
    dev = next(module.parameters()).device
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    with one_thread():
        return torch.cat([module(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]).numpy() if len(x) else np.zeros((0, 0))


class EncoderPredictor(Predictor):
    """An encoder served as an embedding API: ``embed(images)`` and nothing else."""

    QUERIES = {"embed": ThreatModel.EMBEDDINGS}
    TIMED = "embed"

    def __init__(self, module: nn.Module):
        self.module = module

    def embed(self, x: Any) -> np.ndarray:
        return embed(self.module, x)


def linear_probe_accuracy(module: nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> tuple[float, float]:
    """(train, test) accuracy of a logistic-regression probe fitted on frozen embeddings (the standard SSL utility)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train = embed(module, x_train)
    scaler = StandardScaler().fit(train)
    with threadpool_limits(1):  # on a shared CPU, BLAS threads make this small fit 30x slower (measured)
        probe = LogisticRegression(max_iter=300).fit(scaler.transform(train), y_train)
    return float(probe.score(scaler.transform(train), y_train)), float(probe.score(scaler.transform(embed(module, x_test)), y_test))
