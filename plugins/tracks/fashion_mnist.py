"""``fashion-mnist``: Zalando's 28×28 clothing images, from Debian's IDX files or the pinned hub copy."""


import numpy as np

from bench import Budget, Dataset, Recipe, Task, Track, hookimpl

from ._loaders import fashion_mnist_splits


class FashionMNIST(Track):
    name = "fashion-mnist"
    batchable = True  # trains with the base Track.train from its recipe: shadows may train stacked
    pool_design = True  # LiRA's pool design: M models on random halves of a 2N pool, T of them targets
    version = "2"  # 2: LiRA's pool design, OOD scored with the target's label, generated non-members
    ood_source = "scikit-learn's bundled 8x8 digits upsampled to 28x28"
    task = Task.CLASSIFICATION
    description = "Fashion-MNIST (70,000 images; Debian's dataset-fashion-mnist or the hub); MLP target"
    num_classes = 10
    input_shape = (1, 28, 28)
    augmentations = ("shift",)
    # Population is twice the target's training set, so offline shadows train on exact random halves.
    split_sizes = {"members": 5000, "nonmembers": 5000, "population": 10000}
    recipe = Recipe("mlp", {"hidden": [512]}, epochs=40, batch_size=128, lr=0.1, optimizer="sgd", schedule="cosine")
    budgets = {
        "smoke": Budget("smoke", max_shadows=2, queries_per_candidate=16, device_seconds=300),
        "cpu": Budget("cpu", max_shadows=16, queries_per_candidate=256, device_seconds=1800),
        "gpu": Budget("gpu", max_shadows=64, queries_per_candidate=1024, device_seconds=1800),
    }

    def load(self) -> Dataset:
        splits = fashion_mnist_splits(self.data_dir)
        x = np.concatenate([splits.x_train, splits.x_test])
        y = np.concatenate([splits.y_train, splits.y_test])
        return Dataset(x=(x.astype(np.float32) / 255.0 - 0.2860) / 0.3530, y=y.astype(np.int64))

    def extra_nonmembers(self, data, split):
        """Generated non-members (``Track``; the harness adds the copies of members), and ``ood``: scikit-learn's bundled digits upsampled to 28×28 and
        normalized like Fashion-MNIST. The harness gives OOD points the target's predicted label as their claimed label."""
        from sklearn.datasets import load_digits

        from bench import Candidates
        from bench.scenarios import resize_images

        sets = super().extra_nonmembers(data, split)
        rng = np.random.default_rng([self.split_seed, 0x00D])
        d = load_digits()
        pick = np.sort(rng.choice(len(d.images), self.scenario_size, replace=False))
        x = resize_images((d.images[pick] / 16.0).astype(np.float32)[:, None], (28, 28))
        sets["ood"] = Candidates(x=((x - 0.2860) / 0.3530).astype(np.float32), y=d.target[pick].astype(np.int64))
        return sets


@hookimpl
def register_tracks(register):
    register(FashionMNIST)
