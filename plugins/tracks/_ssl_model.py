"""SimCLR encoders for the ``ssl-encoder`` tracks: model, trainer and the embeddings-only predictor.

Imported lazily (torch, torchvision, lightly). The encoder is a small CNN backbone with lightly's SimCLR
projection head; training minimizes lightly's NT-Xent loss between two views of each image made by
lightly's ``SimCLRTransform`` (random resized crop, flip, brightness/contrast jitter for grayscale data).
The served encoder answers with backbone embeddings only: no labels, and never the projection head.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from bench import Predictor, ThreatModel

__all__ = ["SimCLREncoder", "SslTrainer", "EncoderPredictor", "simclr_transform", "embed", "linear_probe_accuracy"]


def simclr_transform(spec: dict[str, Any]) -> Any:
    """lightly's SimCLR view transform (PIL image -> list of two tensors) from the track's public spec."""
    from lightly.transforms import SimCLRTransform

    return SimCLRTransform(**{**spec, "normalize": None})


def to_pil(x: np.ndarray) -> list[Any]:
    """Images (n, 1, H, W) in [0, 1] as 8-bit grayscale PIL images."""
    from PIL import Image

    return [Image.fromarray(np.clip(np.rint(img[0] * 255), 0, 255).astype(np.uint8), mode="L") for img in np.asarray(x)]


class SimCLREncoder(nn.Module):
    """Conv backbone (the encoder) + lightly's SimCLR projection head (training only)."""

    def __init__(self, input_shape: tuple[int, ...], channels: tuple[int, ...] = (32, 64), dim: int = 128, proj_dim: int = 64):
        super().__init__()
        from lightly.models.modules import SimCLRProjectionHead

        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2) if input_shape[-1] >= 16 else nn.Identity()]
            c_in = c
        self.backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(c_in * 4, dim))
        self.head = SimCLRProjectionHead(dim, dim, proj_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def build_encoder(recipe: Any, input_shape: tuple[int, ...]) -> SimCLREncoder:
    a = dict(recipe.arch_params)
    return SimCLREncoder(input_shape, tuple(a.get("channels", (32, 64))), int(a.get("dim", 128)), int(a.get("proj_dim", 64)))


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
        gen = np.random.default_rng([self.seed, 0x551])
        model = build_encoder(r, self.input_shape).to(self.device)
        opt = torch.optim.Adam(model.parameters(), lr=float(r.lr), weight_decay=float(r.weight_decay))
        loss_fn = NTXentLoss(temperature=float(dict(r.arch_params).get("temperature", 0.5)))
        transform = simclr_transform(self.augmentation)
        images = to_pil(data.x)
        model.train()
        for epoch in range(int(r.epochs)):
            order = gen.permutation(len(images))
            for i in range(0, len(order) - 1, int(r.batch_size)):
                views = [transform(images[j]) for j in order[i : i + int(r.batch_size)]]
                v0 = torch.stack([v[0] for v in views]).to(self.device)
                v1 = torch.stack([v[1] for v in views]).to(self.device)
                loss = loss_fn(model.head(model(v0)), model.head(model(v1)))
                opt.zero_grad()
                loss.backward()
                opt.step()
            if self.progress:
                self.progress(epoch + 1, int(r.epochs))
        model.eval()
        return TrainedModel(model, time.perf_counter() - start, {"final_loss": round(float(loss), 4)})


@torch.no_grad()
def embed(module: nn.Module, x: Any, batch_size: int = 512) -> np.ndarray:
    """Backbone embeddings of images (n, C, H, W) in [0, 1]."""
    module.eval()
    dev = next(module.parameters()).device
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    return torch.cat([module(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]).numpy() if len(x) else np.zeros((0, 0))


class EncoderPredictor(Predictor):
    """An encoder served as an embedding API: ``embed(images)`` and nothing else."""

    QUERIES = {"embed": ThreatModel.EMBEDDINGS}
    TIMED = "embed"

    def __init__(self, module: nn.Module):
        self.module = module

    def embed(self, x: Any) -> np.ndarray:
        return embed(self.module, x)


def linear_probe_accuracy(module: nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Accuracy of a logistic-regression probe trained on frozen embeddings (the standard SSL utility)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(embed(module, x_train))
    probe = LogisticRegression(max_iter=2000).fit(scaler.transform(embed(module, x_train)), y_train)
    return float(probe.score(scaler.transform(embed(module, x_test)), y_test))
