"""``synthetic-blobs``: a deterministic generated classification track for tests and offline demos (never on a leaderboard)."""

import numpy as np

from bench import Budget, Dataset, Recipe, Task, Track, hookimpl


class SyntheticBlobs(Track):
    name = "synthetic-blobs"
    batchable = True  # trains with the base Track.train from its recipe: shadows may train stacked
    pool_design = False  # a test track: it exercises the one-target path (tests subclass it with pool_design = True)
    version = "1"
    task = Task.CLASSIFICATION
    description = "generated 4x4 'images' of 4 noisy classes; trains in well under a second; tests only"
    num_classes = 4
    input_shape = (1, 4, 4)
    augmentations = ("shift",)
    split_sizes = {"members": 200, "nonmembers": 200, "population": 400}
    recipe = Recipe("mlp", {"hidden": [64]}, epochs=30, batch_size=32, lr=0.1)
    budgets = {
        "smoke": Budget("smoke", max_shadows=4, queries_per_candidate=64, device_seconds=60),
        "cpu": Budget("cpu", max_shadows=8, queries_per_candidate=256, device_seconds=300),
    }
    leaderboard = False

    def load(self) -> Dataset:
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=800, n_features=16, n_informative=8, n_redundant=2, n_classes=4,
            n_clusters_per_class=2, flip_y=0.05, class_sep=1.0, random_state=0,
        )
        return Dataset(x=x.astype(np.float32).reshape(-1, 1, 4, 4), y=y.astype(np.int64))


@hookimpl
def register_tracks(register):
    register(SyntheticBlobs)
