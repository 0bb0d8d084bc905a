"""Architecture options shared by the multimodal tracks (no torch here: read by ``recipe`` at listing time).

``--set TRACK.arch=open_clip:NAME`` swaps the small CPU dual encoder for an open_clip architecture built from
its config with random weights (NAME: a built-in config such as ``ViT-B-32``, or ``privbench-tiny-vit``, a
tiny ViT shipped in ``open_clip_configs/``); ``--set faces.pretrained=/path/ckpt.pt`` starts the target
(and every shadow) from a local open_clip checkpoint — fine-tuning, the realistic GPU setting.
"""

from __future__ import annotations

from typing import Any

from bench import Recipe

SMALL = "small-clip"
OPEN_CLIP = "open_clip:"
# Fine-tuning a pretrained transformer wants a far smaller step than training the small MLP towers from scratch.
FINETUNE_LR = 1e-5
TRANSFORMER_LR = 5e-4


class ClipArch:
    """Mixin for tracks whose target contains a CLIP-style model: ``params`` select it, ``recipe`` records it."""

    base_recipe: Recipe
    params = {"arch": SMALL, "pretrained": None, "lr": None}

    @property
    def recipe(self) -> Recipe:  # type: ignore[override]
        p = dict(self.params)
        arch = str(p.get("arch") or SMALL)
        if arch == SMALL and p.get("pretrained"):
            raise ValueError("pretrained= needs an open_clip architecture (arch=open_clip:NAME)")
        if arch != SMALL and not arch.startswith(OPEN_CLIP):
            raise ValueError(f"arch must be {SMALL!r} or 'open_clip:NAME', not {arch!r}")
        r = self.base_recipe
        if arch == SMALL:
            return r if p.get("lr") is None else r.replace(lr=float(p["lr"]))
        params = {"pretrained": str(p["pretrained"])} if p.get("pretrained") else {}
        lr = p.get("lr") if p.get("lr") is not None else (FINETUNE_LR if p.get("pretrained") else TRANSFORMER_LR)
        # e.g. "captioner+small-clip" -> "captioner+open_clip:ViT-B-32": other parts of the target stay
        return r.replace(arch=r.arch.replace(SMALL, arch), arch_params=params, lr=float(lr))

    def train(self, data: Any, defense: Any, seed: int, device: str = "cpu", progress: Any = None) -> Any:
        """Train the track's multimodal target under ``defense`` (recipe changes and ``Defense.train`` apply)."""
        from ._mm_models import MultimodalTrainer

        recipe = defense.adapt_recipe(self.recipe)
        return defense.train(MultimodalTrainer(recipe, lambda: self.build_module(defense), seed, device, progress), data)


def open_clip_name(recipe: Any) -> str | None:
    """The open_clip config name of a recipe (after ``open_clip:``), or None for the small CPU model."""
    arch = str(recipe.arch)
    return arch.split(OPEN_CLIP, 1)[1] if OPEN_CLIP in arch else None
