"""``digits``: scikit-learn's bundled 8×8 handwritten digits — the embedded default, no download."""

import numpy as np

from bench import Budget, Dataset, Recipe, Task, Track, hookimpl



class Digits(Track):
    name = "digits"
    batchable = True  # trains with the base Track.train from its recipe: shadows may train stacked
    pool_design = True  # LiRA's pool design: M models on random halves of a 2N pool, T of them targets
    version = "2"  # 2: LiRA's pool design, fixed OOD source, generated non-members
    ood_source = "8x8 grayscale patches of scikit-learn's bundled sample photos (china.jpg, flower.jpg)"
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
        """Generated non-members (``Track``; the harness adds the copies of members), and ``ood``: 8×8 grayscale patches of
        scikit-learn's two bundled photos, a source every installation has (no optional package decides it).
        The harness gives OOD points the target's predicted label as their claimed label."""
        from sklearn.datasets import load_sample_images

        from bench import Candidates
        from bench.scenarios import resize_images

        sets = super().extra_nonmembers(data, split)
        rng = np.random.default_rng([self.split_seed, 0x00D])
        photos = [img.mean(axis=2) / 255.0 for img in load_sample_images().images]
        patches = []
        for _ in range(self.scenario_size):
            p = photos[rng.integers(len(photos))]
            i, j = rng.integers(0, p.shape[0] - 32), rng.integers(0, p.shape[1] - 32)
            patches.append(p[i : i + 32, j : j + 32])
        x = resize_images(np.asarray(patches, dtype=np.float32)[:, None], (8, 8))
        sets["ood"] = Candidates(x=x.astype(np.float32), y=rng.integers(0, 10, size=len(x)).astype(np.int64))
        return sets


@hookimpl
def register_tracks(register):
    register(Digits)
