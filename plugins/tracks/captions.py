"""``captions`` and ``synthetic-captions``: image–caption membership (M⁴I) against two targets.

Units are (image, caption) pairs. The target module holds both targets the issue asks for, trained
on the same member pairs: an encoder–decoder captioner (``generate_captions``, LABEL) and a CLIP-style
dual encoder (``similarity``/``encode_*``, SCORES). Attacks pick the query they need.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import Budget, Candidates, Dataset, Recipe, Task, Track, hookimpl

from ._mm_arch import ClipArch


class CaptionsTrack(ClipArch, Track):
    task = Task.IMAGE_TEXT
    base_recipe = Recipe("captioner+small-clip", {}, epochs=80, batch_size=32, lr=2e-3, optimizer="adamw", schedule="constant")
    budgets = {
        "smoke": Budget("smoke", max_shadows=2, queries_per_candidate=8, device_seconds=240),
        "cpu": Budget("cpu", max_shadows=8, queries_per_candidate=32, device_seconds=1800),
        "gpu": Budget("gpu", max_shadows=16, queries_per_candidate=64, device_seconds=3600),
    }
    vocab: tuple[str, ...] = ()

    def candidates(self, data: Dataset, units: np.ndarray) -> Candidates:
        u = np.asarray(units)
        return Candidates(image=np.asarray(data.image)[u], caption=[data.caption[int(i)] for i in u])

    def build_module(self, defense: Any) -> Any:
        from ._mm_models import CaptionTargets, build_clip

        r = defense.adapt_recipe(self.recipe)
        return CaptionTargets(tuple(self.input_shape), tuple(self.vocab), clip=build_clip(r, tuple(self.input_shape)))

    def predictor(self, module: Any) -> Any:
        from ._mm_models import CaptionPredictor

        return CaptionPredictor(module)

    def utility(self, module: Any, data: Dataset, split: Any) -> dict[str, float]:
        """Caption quality (mean ROUGE-L F1 of generated vs reference) on members and on non-members."""
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(["rougeL"])
        p = self.predictor(module)

        def quality(units: np.ndarray) -> float:
            units = np.asarray(units)[:200]
            gen = p.generate_captions(np.asarray(data.image)[units])
            return float(np.mean([scorer.score(data.caption[int(u)], g)["rougeL"].fmeasure for u, g in zip(units, gen)]))

        return {"train_accuracy": quality(split.members), "test_accuracy": quality(split.nonmembers)}


class SyntheticCaptions(CaptionsTrack):
    name = "synthetic-captions"
    version = "2"
    description = "generated scenes (coloured shapes) with attribute captions in per-image phrasings; tests and demos only"
    input_shape = (3, 16, 16)
    split_sizes = {"members": 64, "nonmembers": 64, "population": 128}
    leaderboard = False
    # Small and quick (seconds per model on one core): 64 member pairs, trained to memorise their phrasings.
    base_recipe = CaptionsTrack.base_recipe.replace(epochs=50)

    def load(self) -> Dataset:
        from ._mm_data import SCENE_VOCAB, make_scenes

        self.vocab = SCENE_VOCAB
        d = make_scenes(300, size=self.input_shape[-1], seed=0)
        return Dataset(image=d["image"], caption=d["caption"])


# -- the real track: captioned images from the hub -------------------------------------------------

# 56f58c9…: the head of main (11 commits; the last deletes a stray test parquet), train split in data/train-*.parquet.
CAPTIONS_HUB = {"repo_id": "jxie/flickr8k", "revision": "56f58c967835f7c508d684f36bd7897cca9d7634", "image_column": "image", "caption_column": "caption_0"}


def build_vocab(captions: list[str], size: int) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for c in captions:
        for w in c.lower().split():
            counts[w] = counts.get(w, 0) + 1
    return tuple(sorted(sorted(counts, key=lambda w: (-counts[w], w))[:size]))


def load_caption_rows(path_or_repo: str, revision: str | None, *, image_column: str, caption_column: str, size: int, limit: int,
                      cache_dir: str | None = None) -> dict[str, Any]:
    """The first ``limit`` rows of the train split: images resized to ``size``² in [-1, 1], and captions."""
    from ._loaders import load_hub_train, rgb_image

    ds = load_hub_train(path_or_repo, revision, (image_column, caption_column), cache_dir)
    n = min(limit, len(ds))
    images = [rgb_image(ds[i][image_column], size) for i in range(n)]
    return {"image": np.stack(images).astype(np.float32), "caption": [str(c).strip().lower() for c in ds[caption_column][:n]]}


class Captions(CaptionsTrack):
    name = "captions"
    version = "1"
    description = "Flickr8k images with their first caption (hub); captioner and CLIP-style targets on the member pairs"
    input_shape = (3, 32, 32)
    split_sizes = {"members": 1000, "nonmembers": 1000, "population": 2000}

    def load(self) -> Dataset:
        src = self.data_dir or CAPTIONS_HUB["repo_id"]
        d = load_caption_rows(src, CAPTIONS_HUB["revision"], image_column=CAPTIONS_HUB["image_column"], caption_column=CAPTIONS_HUB["caption_column"],
                              size=self.input_shape[-1], limit=sum(self.split_sizes.values()))
        self.vocab = build_vocab(d["caption"], 2000)
        return Dataset(image=d["image"], caption=d["caption"])


@hookimpl
def register_tracks(register):
    register(SyntheticCaptions)
    register(Captions)
