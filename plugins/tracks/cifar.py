"""``cifar10`` and ``cifar100``: the standard GPU tracks, from the pinned hub copy or the original python tarball."""

import numpy as np

from bench import Budget, Dataset, Recipe, Task, Track, hookimpl

from ._loaders import HUB, load_cifar_tarball, load_hub

_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)[None, :, None, None]
_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)[None, :, None, None]


# Fast GPU recipe (airbench-style: large batches, label smoothing, flips and shifts; bf16 and channels-last on CUDA):
# seconds per model on one modern GPU. Select a recipe with `--set cifar10.recipe=airbench` (or wrn-28-2).
AIRBENCH = Recipe("airbench", {"widths": [64, 256, 256]}, epochs=10, batch_size=1024, lr=0.2, momentum=0.85, weight_decay=5e-4,
                  label_smoothing=0.2, optimizer="sgd", schedule="cosine", augment=("mirror", "shift"))
# The LiRA paper's target, for faithful reproduction: WRN-28-2, 100 epochs, SGD 0.1, weight decay 5e-4 (3-5 GPU-hours for 16).
WRN_28_2 = Recipe("wrn", {"depth": 28, "width": 2}, epochs=100, batch_size=256, lr=0.1, momentum=0.9, weight_decay=5e-4,
                  optimizer="sgd", schedule="cosine", augment=("mirror", "shift"))


class _Cifar(Track):
    task = Task.CLASSIFICATION
    batchable = True  # trains with the base Track.train from its recipe: shadows may train stacked
    pool_design = True  # LiRA's pool design: M models on random halves of a 2N pool, T of them targets
    version = "2"  # 2: LiRA's pool design
    input_shape = (3, 32, 32)
    augmentations = ("mirror", "shift")
    # As in LiRA's setup, the target sees a random part of the data and the attacker's population is disjoint.
    split_sizes = {"members": 15000, "nonmembers": 15000, "population": 30000}
    recipes = {
        "cnn": Recipe("cnn", {"channels": [32, 64, 128], "hidden": 256}, epochs=30, batch_size=256, lr=0.05, weight_decay=0.0, augment=("mirror", "shift")),
        "airbench": AIRBENCH,
        "wrn-28-2": WRN_28_2,
    }
    # The recipe is a track option: a non-default one is folded into the track version (and so into run ids and cache keys).
    params = {"recipe": "cnn"}
    budgets = {
        "smoke": Budget("smoke", max_shadows=2, queries_per_candidate=16, device_seconds=600),
        "cpu": Budget("cpu", max_shadows=8, queries_per_candidate=64, device_seconds=7200),
        "gpu": Budget("gpu", max_shadows=64, queries_per_candidate=1024, device_seconds=7200),
    }
    variant = ""

    @property
    def recipe(self) -> Recipe:
        name = self.params["recipe"]
        if name not in self.recipes:
            raise ValueError(f"track {self.name!r} has no recipe {name!r}; choose one of {', '.join(self.recipes)}")
        return self.recipes[name]

    def load(self) -> Dataset:
        if self.data_dir:
            splits = load_cifar_tarball(self.data_dir, self.variant)
        else:
            src = HUB[self.variant]
            splits = load_hub(src.repo_id, src.revision, image_column=src.image_column, label_column=src.label_column)
        x = np.concatenate([splits.x_train, splits.x_test]).astype(np.float32) / 255.0
        y = np.concatenate([splits.y_train, splits.y_test]).astype(np.int64)
        return Dataset(x=(x - _MEAN) / _STD, y=y)


class Cifar10(_Cifar):
    name = "cifar10"
    variant = "cifar10"
    num_classes = 10
    description = "CIFAR-10 (60,000 images; hub, pinned revision, or --data-dir with cifar-10-python.tar.gz)"


class Cifar100(_Cifar):
    name = "cifar100"
    variant = "cifar100"
    num_classes = 100
    description = "CIFAR-100 (60,000 images; hub, pinned revision, or --data-dir with cifar-100-python.tar.gz)"


@hookimpl
def register_tracks(register):
    register(Cifar10)
    register(Cifar100)
