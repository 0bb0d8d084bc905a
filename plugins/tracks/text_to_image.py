"""``text-to-image`` and ``text-to-image-integrity``: a small text-conditional diffusion model trained in-suite.

Units are (image, caption) pairs of captioned Fashion-MNIST (see ``_t2i_data``: class + size in per-image
phrasings, two cultures, culture B's captions mostly carrying a Cyrillic word). The target is the suite's
CLIP text encoder conditioning a ``diffusers`` UNet (see ``_t2i_models``), trained on the member pairs.

``text-to-image`` (task ``generation``) is the membership track: attacks score candidate pairs, reading
the model's noise predictions (``predict_noise``, SCORES) or only its samples (``generate``, LABEL).
``text-to-image-integrity`` (task ``integrity``) trains the same recipe on more pairs and serves the
homoglyph and backdoor attacks on generated images. Utility for both: the accuracy of a classifier (a
logistic regression on held-out real images, never in any split) on images generated from member
captions (``train_accuracy``) and from non-member captions (``test_accuracy``). FID is not reported: the
maintained implementations need Inception weights, which nothing here may download.

Options (``--set text-to-image.KEY=VALUE``): ``epochs``, ``channels`` (UNet widths, e.g. ``[32,64]``),
``size`` (16, or 32 for the gpu setting), ``sample_steps`` (DDIM steps when generating).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import Budget, Candidates, Dataset, Recipe, Task, Track, TrackInfo, hookimpl

EVALUATOR_ROWS = 3000  # held-out real images for the utility classifier (outside every split)


class TextToImage(Track):
    name = "text-to-image"
    version = "2"
    task = Task.GENERATION
    description = "captioned 16×16 Fashion-MNIST in two cultures/scripts; SmallCLIP text encoder + diffusers UNet (DDPM) trained in-suite"
    split_sizes = {"members": 100, "nonmembers": 100, "population": 200}
    split_seed = 0
    leaderboard = True
    base_recipe = Recipe("small-clip+unet", {"dim": 64, "hidden": 256, "channels": [8, 16], "p_uncond": 0.1},
                         epochs=200, batch_size=50, lr=2e-3, optimizer="adam", schedule="constant")
    params = {"epochs": None, "channels": None, "size": 16, "sample_steps": 10}
    budgets = {
        # smoke: no shadows (a shadow costs as much as the target); denoising-loss then scores the raw loss at t = 100
        "smoke": Budget("smoke", max_shadows=0, queries_per_candidate=64, device_seconds=600),
        "cpu": Budget("cpu", max_shadows=4, queries_per_candidate=256, device_seconds=3600),
        "gpu": Budget("gpu", max_shadows=16, queries_per_candidate=1024, device_seconds=3600),
    }

    @property
    def input_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (1, int(self.params["size"]), int(self.params["size"]))

    @property
    def recipe(self) -> Recipe:  # type: ignore[override]
        r = self.base_recipe
        if self.params.get("epochs") is not None:
            r = r.replace(epochs=int(self.params["epochs"]))
        if self.params.get("channels") is not None:
            r = r.replace(arch_params={**r.arch_params, "channels": [int(c) for c in self.params["channels"]]})
        return r

    # -- data -------------------------------------------------------------------------------
    def load(self) -> Dataset:
        from ._t2i_data import make_captioned_fmnist, read_fashion_mnist

        n = sum(self.split_sizes.values()) + EVALUATOR_ROWS
        images, labels = read_fashion_mnist(self.data_dir, n)
        if len(images) < n:
            raise ValueError(f"track {self.name!r} needs {n} Fashion-MNIST training images; {self.data_dir or 'the default source'} has {len(images)}")
        d = make_captioned_fmnist(images, labels, size=int(self.params["size"]), seed=self.split_seed)
        return Dataset(image=d["image"], caption=d["caption"], label=d["label"], culture=d["culture"], planted=d["planted"])

    def num_units(self, data: Dataset) -> int:
        """Splits draw from the first rows; the last ``EVALUATOR_ROWS`` are the utility classifier's own."""
        return len(data) - EVALUATOR_ROWS

    def candidates(self, data: Dataset, units: np.ndarray) -> Candidates:
        u = np.asarray(units)
        return Candidates(image=np.asarray(data.image)[u], caption=[data.caption[int(i)] for i in u],
                          label=np.asarray(data.label)[u], culture=np.asarray(data.culture)[u])

    def info(self, data: Dataset, split: Any) -> TrackInfo:
        from ._t2i_data import CLASS_NAMES, prompt_set
        from ._t2i_models import linear_alphas_cumprod

        base = super().info(data, split)
        prompts, classes = prompt_set()
        extra = {
            "prompts": prompts, "prompt_classes": classes, "classes": list(CLASS_NAMES),
            "cultures": {"0": "latin", "1": "cyrillic"},
            "alphas_cumprod": linear_alphas_cumprod().tolist(),  # the public noise schedule (DDPM, linear β)
        }
        return TrackInfo(**{**base.__dict__, "extra": extra})

    # -- models -----------------------------------------------------------------------------
    def build_module(self, defense: Any) -> Any:
        from ._t2i_models import build_text_to_image

        return build_text_to_image(defense.adapt_recipe(self.recipe), self.input_shape)

    def train(self, data: Dataset, defense: Any, seed: int, device: str = "cpu", progress: Any = None) -> Any:
        from ._mm_models import MultimodalTrainer

        recipe = defense.adapt_recipe(self.recipe)
        return defense.train(MultimodalTrainer(recipe, lambda: self.build_module(defense), seed, device, progress), data)

    def predictor(self, module: Any) -> Any:
        from ._t2i_models import DiffusionPredictor

        return DiffusionPredictor(module, steps=int(self.params["sample_steps"]))

    def utility(self, module: Any, data: Dataset, split: Any) -> dict[str, float]:
        """Class accuracy (held-out classifier) of images generated from member / non-member captions (≤ 50 each)."""
        clf = self.evaluator(data)
        p = self.predictor(module)

        def acc(units: np.ndarray) -> float:
            u = np.asarray(units)[:50]
            images = p.generate([data.caption[int(i)] for i in u], seed=0)
            return float(np.mean(clf.predict(images.reshape(len(u), -1)) == np.asarray(data.label)[u]))

        return {"train_accuracy": acc(split.members), "test_accuracy": acc(split.nonmembers)}

    def evaluator(self, data: Dataset) -> Any:
        """A logistic regression on the held-out real images (class labels); trained once per track instance."""
        if getattr(self, "_evaluator", None) is None:
            from sklearn.linear_model import LogisticRegression

            x = np.asarray(data.image)[-EVALUATOR_ROWS:]
            self._evaluator = LogisticRegression(max_iter=500, C=0.1).fit(x.reshape(len(x), -1), np.asarray(data.label)[-EVALUATOR_ROWS:])
        return self._evaluator


class TextToImageIntegrity(TextToImage):
    name = "text-to-image-integrity"
    version = "2"
    task = Task.INTEGRITY
    description = "the text-to-image recipe trained on 1,000 pairs, with a public prompt set; homoglyph and backdoor effects on generated images"
    split_sizes = {"members": 1000, "nonmembers": 100, "population": 600}
    base_recipe = TextToImage.base_recipe.replace(epochs=40)
    budgets = {
        "smoke": Budget("smoke", max_shadows=0, queries_per_candidate=32, device_seconds=600),
        "cpu": Budget("cpu", max_shadows=0, queries_per_candidate=64, device_seconds=1800),
        "gpu": Budget("gpu", max_shadows=0, queries_per_candidate=256, device_seconds=3600),
    }


@hookimpl
def register_tracks(register):
    register(TextToImage)
    register(TextToImageIntegrity)
