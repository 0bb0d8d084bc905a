import numpy as np
import pytest
import torch

from bench import Dataset, Recipe
from bench.training import ClassifierPredictor, Trainer, augment_batch, build_model

RECIPE = Recipe("mlp", {"hidden": [32]}, epochs=5, batch_size=16, lr=0.1)


def _data(n=128):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, 4, 4)).astype(np.float32)
    return Dataset(x=x, y=(x.sum(axis=(1, 2, 3)) > 0).astype(np.int64))


def _fit(seed, recipe=RECIPE):
    return Trainer(recipe, input_shape=(1, 4, 4), num_classes=2, seed=seed).fit(_data())


@pytest.mark.slow
def test_same_seed_same_weights_different_seed_different():
    a, b, c = _fit(0), _fit(0), _fit(1)
    for (k, va), vb, vc in zip(a.module.state_dict().items(), b.module.state_dict().values(), c.module.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.module.state_dict().values(), c.module.state_dict().values()))


@pytest.mark.slow
def test_training_fits_the_data_and_weight_decay_shrinks_weights():
    plain = _fit(0, RECIPE.replace(epochs=30))
    decayed = _fit(0, RECIPE.replace(epochs=30, weight_decay=0.05))
    d = _data()
    p = ClassifierPredictor(plain.module).predict_scores(d.x)
    assert (p.argmax(1) == d.y).mean() > 0.95
    np.testing.assert_allclose(p.sum(1), 1.0)
    norm = lambda m: sum(float(v.norm()) for v in m.state_dict().values())
    assert norm(decayed.module) < norm(plain.module)


def test_cnn_builds_for_image_shapes_and_augment_keeps_shape():
    m = build_model(Recipe("cnn", {"channels": [8, 16], "hidden": 32}), (3, 32, 32), 10)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    y = augment_batch(x, ("mirror", "shift"), torch.Generator().manual_seed(0))
    assert y.shape == x.shape
