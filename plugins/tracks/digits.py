"""``digits``: scikit-learn's bundled 8×8 handwritten digits — the embedded default, no download."""

import numpy as np

from bench import Budget, Dataset, Recipe, Task, Track, hookimpl

from ._loaders import DEBIAN_FASHION_MNIST, load_idx_dir


class Digits(Track):
    name = "digits"
    batchable = True  # trains with the base Track.train from its recipe: shadows may train stacked
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

    def extra_nonmembers(self, data, split):
        """Neighbours of members, and ``ood``: Fashion-MNIST test images (Debian's copy) resized to 8×8,
        or, without it, 8×8 grayscale patches of scikit-learn's two bundled photos. OOD images keep their
        source labels (clothing class k ↔ digit k; random for the photo patches): arbitrary for this track."""
        import os

        from bench import Candidates
        from bench.scenarios import resize_images

        sets = super().extra_nonmembers(data, split)
        rng = np.random.default_rng([self.split_seed, 0x00D])
        n = self.scenario_size
        if os.path.isdir(DEBIAN_FASHION_MNIST):
            fm = load_idx_dir(DEBIAN_FASHION_MNIST)
            pick = np.sort(rng.choice(len(fm.x_test), n, replace=False))
            x = resize_images(fm.x_test[pick].astype(np.float32) / 255.0, (8, 8))
            y = fm.y_test[pick].astype(np.int64)
        else:
            from sklearn.datasets import load_sample_images

            photos = [img.mean(axis=2) / 255.0 for img in load_sample_images().images]
            patches = []
            for _ in range(n):
                p = photos[rng.integers(len(photos))]
                i, j = rng.integers(0, p.shape[0] - 32), rng.integers(0, p.shape[1] - 32)
                patches.append(p[i : i + 32, j : j + 32])
            x = resize_images(np.asarray(patches, dtype=np.float32)[:, None], (8, 8))
            y = rng.integers(0, 10, size=n).astype(np.int64)
        sets["ood"] = Candidates(x=x.astype(np.float32), y=y)
        return sets


@hookimpl
def register_tracks(register):
    register(Digits)
