"""``stacking``: model stacking (Salem et al., ML-Leaks, NDSS 2019).

The training set is cut into three disjoint parts: two first-level models (the recipe's architecture) train
on parts one and two, and a second-level model learns to combine their probability vectors on part three.
No single model sees more than a third of the data, and the released model never fits any point end to end.
The released module is one ``stacked`` network (registered with ``bench.training.architecture``), so it
caches and serves like any other target.
"""

from bench import ROW_FIELD, Dataset, Defense, TrainedModel, hookimpl, random_parts

ARCH = "stacked"


def _stacked_class():
    """The ``Stacked`` module class, built on first use (torch is imported lazily). Pickled by reference, as
    ``stacking.Stacked`` (the module's ``__getattr__`` builds it in a fresh process): defined inside a function, it
    could not be pickled, and every attack on a stacking target failed in a worker ("Can't pickle local object")."""
    cls = globals().get("_STACKED")
    if cls is None:
        from torch import nn

        class Stacked(nn.Module):
            """First-level models' probabilities, concatenated, into a small second-level MLP."""

            def __init__(self, bases, num_classes, meta_hidden):
                super().__init__()
                self.bases = nn.ModuleList(bases)
                self.meta = nn.Sequential(nn.Linear(len(bases) * num_classes, meta_hidden), nn.ReLU(), nn.Linear(meta_hidden, num_classes))

            def forward(self, x):
                import torch

                return self.meta(torch.cat([nn.functional.softmax(b(x), dim=1) for b in self.bases], dim=1))

        Stacked.__qualname__ = "Stacked"
        globals()["_STACKED"] = cls = Stacked
    return cls


def __getattr__(name):
    if name == "Stacked":
        return _stacked_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register_architecture():
    from bench.training import ARCHITECTURES, architecture, build_model
    from bench import Recipe

    if ARCH in ARCHITECTURES:
        return

    @architecture(ARCH)
    def stacked(input_shape, num_classes, dropout=0.0, base="mlp", base_params=None, n_bases=2, meta_hidden=64):
        base_recipe = Recipe(base, dict(base_params or {}), dropout=dropout)
        return _stacked_class()([build_model(base_recipe, input_shape, num_classes) for _ in range(int(n_bases))], num_classes, int(meta_hidden))


class Stacking(Defense):
    name = "stacking"
    version = "1"
    changes_training = True
    params = {"meta_hidden": 64}

    def adapt_recipe(self, recipe):
        if recipe.arch == ARCH:
            return recipe
        _register_architecture()
        return recipe.replace(arch=ARCH, arch_params={"base": recipe.arch, "base_params": dict(recipe.arch_params), "n_bases": 2, "meta_hidden": int(self.params["meta_hidden"])})

    def train(self, trainer, data):
        import time

        import numpy as np
        import torch

        start = time.perf_counter()
        model = trainer.build_model()
        sizes = [len(p) for p in np.array_split(np.arange(len(data)), 3)]
        parts = random_parts(data, sizes, seed=trainer.seed, salt=0x57)
        base_recipe = trainer.recipe.replace(arch=trainer.recipe.arch_params["base"], arch_params=trainer.recipe.arch_params["base_params"])
        for base, part in zip(model.bases, parts[:2]):
            trainer.fit(part, model=base, recipe=base_recipe)
        meta_data = parts[2]
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(meta_data.x, dtype=np.float32), device=trainer.device)
            feats = torch.cat([torch.softmax(b.eval()(x), dim=1) for b in model.bases], dim=1).cpu().numpy()
        # The second level is a plain classifier on feature vectors: no image augmentations there.
        # Each row keeps its id (ROW_FIELD, where the harness set one): the combiner fits these members through their features.
        ids = {ROW_FIELD: getattr(meta_data, ROW_FIELD)} if ROW_FIELD in meta_data.fields else {}
        trainer.fit(Dataset(x=feats, y=meta_data.y, **ids), model=model.meta, recipe=base_recipe.replace(augment=()))
        model.eval()
        return TrainedModel(model, time.perf_counter() - start, {"part_sizes": sizes})


@hookimpl
def register_defenses(register):
    register(Stacking)
