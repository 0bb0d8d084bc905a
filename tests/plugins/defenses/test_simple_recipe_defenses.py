"""dropout, label-smoothing, augment, l2: each changes exactly its recipe field, and training uses it."""

import pytest
from torch import nn

from bench import Recipe
from bench._plugins import load_plugins
from bench.training import Trainer

RECIPE = Recipe("mlp", {"hidden": [16]}, epochs=1, batch_size=8, augment=("mirror",))


@pytest.fixture(scope="module")
def registry():
    return load_plugins()[1]


def test_dropout_adds_dropout_layers(registry):
    r = registry.defense("dropout", p=0.3).adapt_recipe(RECIPE)
    assert r.dropout == 0.3 and r.replace(dropout=0.0) == RECIPE
    model = Trainer(r, input_shape=(1, 4, 4), num_classes=3, seed=0).build_model()
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3]


def test_label_smoothing_reaches_the_loss(registry):
    r = registry.defense("label-smoothing", smoothing=0.2).adapt_recipe(RECIPE)
    assert r.label_smoothing == 0.2 and r.replace(label_smoothing=0.0) == RECIPE
    assert Trainer(r, input_shape=(1, 4, 4), num_classes=3, seed=0).loss_fn().label_smoothing == 0.2


def test_augment_adds_to_the_recipe_augmentations(registry):
    assert registry.defense("augment").adapt_recipe(RECIPE).augment == ("mirror", "shift")
    assert registry.defense("augment", kinds=["mirror"]).adapt_recipe(RECIPE).augment == ("mirror",)
    with pytest.raises(ValueError, match="unknown augmentation"):
        registry.defense("augment", kinds=["rotate"]).adapt_recipe(RECIPE)


def test_l2_sets_weight_decay(registry):
    r = registry.defense("l2", weight_decay=1e-3).adapt_recipe(RECIPE)
    assert r.weight_decay == 1e-3
    opt = Trainer(r, input_shape=(1, 4, 4), num_classes=3, seed=0).optimizer(nn.Linear(2, 2))
    assert opt.param_groups[0]["weight_decay"] == 1e-3
