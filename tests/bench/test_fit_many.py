"""Batched training (bench._fit_many: ``bench.training.fit_many``) and its use for shadow models."""

import numpy as np
import pytest
import torch

from bench import Recipe
from bench.testing import make_context, make_session
from bench.training import Trainer, accuracy, batchable, fit_many


@pytest.fixture(scope="module")
def blobs():
    session = make_session()
    track, data, split = session.track("synthetic-blobs")
    return track, data, split


def _rows(split, n, seed=0, size=150):
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(split.population, size - 7 * i, replace=False)) for i in range(n)]  # uneven sizes


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe("mlp", {"hidden": [32]}, epochs=8, batch_size=32, lr=0.1, weight_decay=1e-3, label_smoothing=0.1),
        Recipe("mlp", {"hidden": [32]}, epochs=8, batch_size=32, lr=0.01, optimizer="adam", schedule="constant"),
        Recipe("cnn", {"channels": [8], "hidden": 16}, epochs=4, batch_size=32, lr=0.05, augment=("shift", "mirror")),
    ],
    ids=["mlp-sgd", "mlp-adam", "cnn-augment"],
)
@pytest.mark.slow
def test_fit_many_matches_one_at_a_time(blobs, recipe):
    track, data, split = blobs
    rows, seeds = _rows(split, 3), [11, 12, 13]
    test = data[split.nonmembers]
    many = fit_many(recipe, data, rows, seeds, input_shape=track.input_shape, num_classes=track.num_classes)
    for r, s, tm in zip(rows, seeds, many):
        one = Trainer(recipe, input_shape=track.input_shape, num_classes=track.num_classes, seed=s).fit(data[r])
        # Same init, data order and augmentation streams: equal up to float rounding.
        a, b = accuracy(tm.module, test.x, test.y), accuracy(one.module, test.x, test.y)
        assert abs(a - b) <= 0.01
        for (k, p), q in zip(tm.module.state_dict().items(), one.module.state_dict().values()):
            assert torch.allclose(p, q, atol=1e-3), k
        assert tm.train_seconds > 0


@pytest.mark.slow
def test_fit_many_is_deterministic_and_independent_of_the_stack(blobs):
    track, data, split = blobs
    recipe = Recipe("mlp", {"hidden": [16]}, epochs=3, batch_size=16, lr=0.1)
    rows = _rows(split, 3)
    kw = dict(input_shape=track.input_shape, num_classes=track.num_classes)
    a = fit_many(recipe, data, rows, [1, 2, 3], **kw)
    b = fit_many(recipe, data, rows, [1, 2, 3], **kw)
    alone = fit_many(recipe, data, rows[1:2], [2], **kw)
    for x, y in zip(a, b):
        for p, q in zip(x.module.parameters(), y.module.parameters()):
            assert torch.equal(p, q)
    for p, q in zip(a[1].module.parameters(), alone[0].module.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
    # different seeds really give different models
    assert not torch.equal(next(a[0].module.parameters()), next(a[1].module.parameters()))


def test_batchable_and_errors(blobs):
    track, data, split = blobs
    assert batchable(Recipe("mlp")) and batchable(Recipe("cnn"))
    assert not batchable(Recipe("mlp", dropout=0.5))
    assert not batchable(Recipe("wrn"))
    with pytest.raises(ValueError, match="batched"):
        fit_many(Recipe("mlp", dropout=0.5), data, [split.population], [0], input_shape=(1, 4, 4), num_classes=4)
    with pytest.raises(ValueError, match="one row set per seed"):
        fit_many(Recipe("mlp"), data, [split.population], [0, 1], input_shape=(1, 4, 4), num_classes=4)


@pytest.mark.slow
def test_shadows_train_batched_and_then_hit_the_cache():
    session = make_session()
    ctx, _ = make_context("loss", session=session)
    shadows = ctx.shadows(4)
    entries = session.cache.entries()
    batched = [e for e in entries if e["spec"]["role"] == "shadow"]
    assert len(batched) == 4 and all(e["batched"] == 4 for e in batched)
    assert all(not s.cached for s in shadows)
    x, y = ctx.population.x, ctx.population.y
    accs = [float((s.predict_labels(x) == y).mean()) for s in shadows]
    assert min(accs) > 0.5  # 4 classes: well above chance
    hits = session.cache.hits
    ctx2, _ = make_context("loss", session=session)
    again = ctx2.shadows(4)
    assert session.cache.hits == hits + 4 and all(s.cached for s in again)
    for s, t in zip(shadows, again):
        np.testing.assert_allclose(s.predict_scores(x), t.predict_scores(x), atol=1e-6)
