"""``text-encoder``: integrity of a CLIP-style text encoder (homoglyph bias, backdoors).

The target is a small CLIP-style model trained in-suite on generated scenes from two 'cultures':
culture B's images have their own style and most of their captions carry a word in Cyrillic script — the
association real CLIP models learn from web data and that a homoglyph exploits. The track's prompt set
(clean Latin prompts) is public metadata. Attacks return metrics, not membership scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import Budget, Candidates, Dataset, Recipe, Task, TrackInfo, hookimpl

from .captions import CaptionsTrack


class TextEncoder(CaptionsTrack):
    name = "text-encoder"
    version = "2"
    task = Task.INTEGRITY
    description = "CLIP-style text encoder trained in-suite on two-script captioned scenes, with a prompt set; integrity attacks"
    input_shape = (3, 16, 16)
    split_sizes = {"members": 600, "nonmembers": 100, "population": 300}
    base_recipe = Recipe("small-clip", {"dim": 64, "hidden": 256}, epochs=40, batch_size=64, lr=2e-3, optimizer="adamw", schedule="constant")
    budgets = {
        "smoke": Budget("smoke", max_shadows=0, queries_per_candidate=16, device_seconds=240),
        "cpu": Budget("cpu", max_shadows=0, queries_per_candidate=64, device_seconds=900),
        "gpu": Budget("gpu", max_shadows=0, queries_per_candidate=256, device_seconds=1800),
    }

    def load(self) -> Dataset:
        from ._mm_data import make_scenes

        d = make_scenes(1000, size=self.input_shape[-1], seed=7, cultures=True)
        return Dataset(image=d["image"], caption=d["caption"], culture=d["culture"])

    def prompts(self) -> list[str]:
        from ._mm_data import COLORS, SHAPES

        return [f"a photo of a {c} {s}" for c in COLORS for s in SHAPES] + [f"a {c} {s} on the top" for c in COLORS for s in SHAPES]

    def candidates(self, data: Dataset, units: np.ndarray) -> Candidates:
        u = np.asarray(units)
        return Candidates(image=np.asarray(data.image)[u], caption=[data.caption[int(i)] for i in u], culture=np.asarray(data.culture)[u])

    def info(self, data: Dataset, split: Any) -> TrackInfo:
        base = super().info(data, split)
        return TrackInfo(**{**base.__dict__, "extra": {"prompts": self.prompts(), "cultures": {"0": "latin", "1": "cyrillic"}}})

    def build_module(self, defense: Any) -> Any:
        from ._mm_models import build_clip

        return build_clip(defense.adapt_recipe(self.recipe), tuple(self.input_shape))

    def predictor(self, module: Any) -> Any:
        from ._mm_models import ClipPredictor

        return ClipPredictor(module)

    def utility(self, module: Any, data: Dataset, split: Any) -> dict[str, float]:
        """Image→caption top-1 retrieval within chunks of 100 pairs, on members and on non-members."""
        from ._mm_models import retrieval_accuracy

        p = self.predictor(module)
        acc = lambda u: retrieval_accuracy(p, np.asarray(data.image)[u], [data.caption[int(i)] for i in u])
        return {"train_accuracy": acc(np.asarray(split.members)[:300]), "test_accuracy": acc(split.nonmembers)}


@hookimpl
def register_tracks(register):
    register(TextEncoder)
