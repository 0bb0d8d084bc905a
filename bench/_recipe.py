"""Training recipes: plain data, hashed into every model's cache key. No torch here."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Recipe"]


@dataclass(frozen=True)
class Recipe:
    """How a track trains its target (and, identically, the attacker's shadow models).

    >>> r = Recipe("mlp", {"hidden": [64]}, epochs=5, batch_size=32, lr=0.1)
    >>> r.replace(weight_decay=5e-4).weight_decay
    0.0005
    """

    arch: str
    arch_params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    optimizer: str = "sgd"  # sgd | adam (coupled L2) | adamw (decoupled weight decay)
    momentum: float = 0.9
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "cosine"  # cosine | constant
    augment: tuple[str, ...] = ()  # training augmentations: "mirror", "shift"
    dropout: float = 0.0

    def replace(self, **changes: Any) -> "Recipe":
        return dataclasses.replace(self, **changes)

    def spec(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["augment"] = list(self.augment)
        return json.loads(json.dumps(d, sort_keys=True))

    def __hash__(self) -> int:
        return hash(json.dumps(self.spec(), sort_keys=True))
