"""What training a model costs, independent of the machine: optimizer steps and model FLOPs, from the model's spec.

A shadow model's charge used to be its recorded wall-clock ``train_seconds``, which varies with the machine
and its load (2.5x for the same cached digits target on a shared box) and which anyone can edit in the cache.
The charge is now computed from what the cache key fixes — the recipe (epochs, batch size), the number of
training units — and the module's parameter count:

- ``steps`` = epochs × ceil(units / batch size), ``examples`` = epochs × units;
- ``flops`` = 6 × parameters × examples: PaLM's *model FLOPs* (Chowdhery et al. 2022, appendix B: 2 per
  weight per example forward, 4 backward), which depend on the model only, not on how it is computed;
- reference device-seconds = steps × ``STEP_SECONDS`` + flops / ``FLOPS``: the time the tier's reference
  device takes (a fixed per-step overhead, which dominates small models, plus a fixed model-FLOP rate).

Models trained without a recipe (e.g. spaCy pipelines) have no step count: they are charged their recorded
seconds, as before, and say so (``cost is None``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainingCost", "training_cost", "STEP_SECONDS", "FLOPS"]

# The reference devices (per device kind): seconds of fixed overhead per optimizer step, and model FLOP/s.
# CPU: from CPU-time measurements on the reference 2-core machine, one intra-op thread: small MLPs (64-128-10,
# 64-512-512-10) take ~5 ms a step whatever their size; fashion-mnist's 784-512-10 MLP runs at ~15 GFLOP/s.
STEP_SECONDS = {"cpu": 5e-3, "cuda": 2e-4}
FLOPS = {"cpu": 1.5e10, "cuda": 5e12}


@dataclass(frozen=True)
class TrainingCost:
    steps: int
    examples: int
    flops: float

    def reference_seconds(self, device: str) -> float:
        kind = "cuda" if str(device).startswith("cuda") else "cpu"
        return self.steps * STEP_SECONDS[kind] + self.flops / FLOPS[kind]


def training_cost(spec: Any, module: Any) -> TrainingCost | None:
    """The cost of training ``module`` as its cache ``spec`` says (recipe, units); None without a recipe."""
    recipe = spec.get("recipe") if isinstance(spec, dict) else None
    if not isinstance(recipe, dict) or not hasattr(module, "parameters"):
        return None
    try:
        epochs, batch, units = int(recipe["epochs"]), int(recipe["batch_size"]), int(spec["n_units"])
        params = sum(int(p.numel()) for p in module.parameters())
    except (KeyError, TypeError, ValueError):
        return None
    examples = epochs * units
    return TrainingCost(steps=epochs * math.ceil(units / max(1, batch)), examples=examples, flops=6.0 * params * examples)
