"""``ssl-encoder`` and ``ssl-encoder-digits``: SimCLR encoders, membership through embeddings alone.

A target encoder trains with SimCLR (lightly's NT-Xent loss and projection head, our batched SimCLR views) on
its member images, without labels; shadows train with the same recipe on population images. The served
encoder answers ``embed`` (backbone outputs) only: threat model ``embeddings`` — no labels, no scores, no
projection head. Candidates and population are images only (``x``). The view augmentation is public (in
``ctx.track.extra["augmentation"]``, named like lightly's ``SimCLRTransform`` arguments), as EncoderMI assumes. Utility: linear-probe accuracy (logistic regression on frozen embeddings) on labelled images
outside the split — ``train_accuracy`` with the probe scored on its own training images, ``test_accuracy``
on held-out ones.

``ssl-encoder`` uses Fashion-MNIST (Debian's IDX files or the pinned hub copy); ``ssl-encoder-digits`` uses
scikit-learn's bundled 8×8 digits (no download; fast, for tests and smoke runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import Budget, Candidates, Dataset, Recipe, Task, Track, TrackInfo, hookimpl


class SslEncoderTrack(Track):
    name = "ssl-encoder"
    version = "1"
    task = Task.REPRESENTATION
    description = "SimCLR encoder (lightly) trained on Fashion-MNIST members (14x14); embeddings-only access; utility = linear probe"
    input_shape = (1, 14, 14)  # Fashion-MNIST averaged 2x2: the CPU budget buys many epochs, which memorization needs
    split_sizes = {"members": 100, "nonmembers": 100, "population": 200}
    probe_sizes = (1000, 1000)  # labelled images outside the split: probe training, probe test
    augmentation = {"min_scale": 0.8, "hf_prob": 0.5, "cj_prob": 0.8, "cj_strength": 0.5, "cj_bright": 0.8, "cj_contrast": 0.8}
    # Many epochs over a small member set at a low temperature: the regime where contrastive encoders memorize.
    recipe = Recipe("simclr-mlp", {"kind": "mlp", "hidden": [1024], "dim": 128, "proj_dim": 64, "temperature": 0.1}, epochs=600, batch_size=50,
                    lr=1e-3, optimizer="adam", schedule="constant")
    budgets = {
        "smoke": Budget("smoke", max_shadows=0, queries_per_candidate=32, device_seconds=150),  # no shadows: no threshold
        "cpu": Budget("cpu", max_shadows=8, queries_per_candidate=128, device_seconds=1500),
        "gpu": Budget("gpu", max_shadows=32, queries_per_candidate=512, device_seconds=3600),
    }

    def load(self) -> Dataset:
        from ._loaders import fashion_mnist_splits

        s = fashion_mnist_splits(self.data_dir)
        x = np.concatenate([s.x_train, s.x_test]).astype(np.float32) / 255.0
        x = x.reshape(len(x), 1, 14, 2, 14, 2).mean(axis=(3, 5))
        return self._subset(x, np.concatenate([s.y_train, s.y_test]))

    def _subset(self, x: np.ndarray, y: np.ndarray) -> Dataset:
        """A fixed random subset: the split's images first, then the probe's labelled images."""
        n = sum(self.split_sizes.values()) + sum(self.probe_sizes)
        if n > len(x):
            raise ValueError(f"track {self.name!r} needs {n} images but the data has {len(x)}")
        pick = np.random.default_rng([self.split_seed, 0x55E]).permutation(len(x))[:n]
        return Dataset(x=x[pick].astype(np.float32), y=np.asarray(y)[pick].astype(np.int64))

    def num_units(self, data: Dataset) -> int:
        return sum(self.split_sizes.values())

    def candidates(self, data: Dataset, units: np.ndarray) -> Candidates:
        """Images only: an embeddings attacker gets no labels."""
        return Candidates(x=np.asarray(data.x)[np.asarray(units, dtype=np.int64)])

    def info(self, data: Dataset, split: Any) -> TrackInfo:
        base = super().info(data, split)
        return TrackInfo(**{**base.__dict__, "num_classes": None, "extra": {"augmentation": dict(self.augmentation)}})

    # -- models -----------------------------------------------------------------------------
    def trainer(self, recipe: Recipe, seed: int, device: str, progress: Any = None) -> Any:
        from ._ssl_model import SslTrainer

        return SslTrainer(recipe, self.input_shape, self.augmentation, seed, device, progress)

    def build_module(self, defense: Any) -> Any:
        from ._ssl_model import build_encoder

        return build_encoder(defense.adapt_recipe(self.recipe), self.input_shape)

    def predictor(self, module: Any) -> Any:
        from ._ssl_model import EncoderPredictor

        return EncoderPredictor(module)

    def utility(self, module: Any, data: Dataset, split: Any) -> dict[str, float]:
        """Linear-probe accuracy on the probe's own training images and on held-out labelled images."""
        from ._ssl_model import linear_probe_accuracy

        base = self.num_units(data)
        a, b = self.probe_sizes
        tr, te = np.arange(base, base + a), np.arange(base + a, base + a + b)
        x, y = np.asarray(data.x), np.asarray(data.y)
        train, test = linear_probe_accuracy(module, x[tr], y[tr], x[te], y[te])
        return {"train_accuracy": train, "test_accuracy": test, "linear_probe_accuracy": test}


class SslEncoderDigits(SslEncoderTrack):
    name = "ssl-encoder-digits"
    version = "1"
    description = "SimCLR encoder (lightly) trained on scikit-learn's 8x8 digits; embeddings-only access; fast, no download"
    input_shape = (1, 8, 8)
    probe_sizes = (700, 697)
    recipe = SslEncoderTrack.recipe.replace(epochs=400)
    augmentation = {**SslEncoderTrack.augmentation, "hf_prob": 0.0}  # digits are not mirror-symmetric

    def load(self) -> Dataset:
        from sklearn.datasets import load_digits

        d = load_digits()
        return self._subset((d.images / 16.0).astype(np.float32)[:, None], d.target)


@hookimpl
def register_tracks(register):
    register(SslEncoderTrack)
    register(SslEncoderDigits)
