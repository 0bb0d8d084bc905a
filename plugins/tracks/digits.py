"""``digits``: scikit-learn's bundled 8×8 handwritten digits — the embedded default, no download."""

import numpy as np

from bench import Budget, Dataset, Recipe, Task, Track, hookimpl


class Digits(Track):
    name = "digits"
    version = "1"
    task = Task.CLASSIFICATION
    description = "scikit-learn's bundled 8x8 digits (1,797 images); MLP target; the embedded default"
    num_classes = 10
    input_shape = (1, 8, 8)
    augmentations = ("shift",)  # digits are not mirror-symmetric
    split_sizes = {"members": 500, "nonmembers": 500, "population": 797}
    # Trained to zero training loss with no regularization, as the literature's targets are.
    recipe = Recipe("mlp", {"hidden": [128]}, epochs=60, batch_size=32, lr=0.05, optimizer="sgd", schedule="cosine")
    budgets = {
        "smoke": Budget("smoke", max_shadows=4, queries_per_candidate=64, device_seconds=120),
        "cpu": Budget("cpu", max_shadows=16, queries_per_candidate=256, device_seconds=900),
        "gpu": Budget("gpu", max_shadows=64, queries_per_candidate=1024, device_seconds=900),
    }

    def load(self) -> Dataset:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
        return Dataset(x=x, y=d.target.astype(np.int64))


@hookimpl
def register_tracks(register):
    register(Digits)
