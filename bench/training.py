"""Training engine (public submodule): architectures, the trainer, batched training, prediction.

Plugins import this lazily (inside methods), since it imports torch. The pieces live in private modules
(``_architectures``, ``_trainer``, ``_fit_many``); this module is their public face, plus prediction.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._api import Predictor
from ._architectures import ARCHITECTURES, BATCHED_ARCHITECTURES, architecture, build_model
from ._fit_many import batchable, fit_many
from ._trainer import Trainer, augment_batch, default_device, make_optimizer, shuffled_batches
from ._trainer_protocol import FitHooks, FitLoop, FitStep, ModelTrainer, TrainedModel

__all__ = [
    "ARCHITECTURES",
    "BATCHED_ARCHITECTURES",
    "architecture",
    "build_model",
    "Trainer",
    "TrainedModel",
    "ModelTrainer",
    "FitHooks",
    "FitLoop",
    "FitStep",
    "ClassifierPredictor",
    "predict_logits",
    "accuracy",
    "augment_batch",
    "default_device",
    "make_optimizer",
    "shuffled_batches",
    "batchable",
    "fit_many",
]


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

