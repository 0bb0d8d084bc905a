"""The model layer (bench._models): cache identity and batching follow what plugins declare, never their overrides."""

import numpy as np
import pytest

from bench import Defense, PluginError, Track
from bench._cache import spec_key
from bench._models import ModelFactory
from bench.testing import make_session
from bench.training import predict_logits


@pytest.fixture(scope="module")
def blobs():
    s = make_session()
    track, data, split = s.track("synthetic-blobs")
    return s, track, data, split


def _factory(blobs, defense, track=None):
    s, t, data, split = blobs
    return ModelFactory(track or t, data, split.sha256, defense, s.cache)


# Keys computed with the harness before the model layer moved out of bench/_context.py (commit af7c628):
# cached models of every first-party defense stay valid.
KEYS_BEFORE = {
    "none": "da87106dc375886ec5b9cc5f93ec094b1cb6bdbe6d16914003a086c2eecbfc8c",
    "label-only": "da87106dc375886ec5b9cc5f93ec094b1cb6bdbe6d16914003a086c2eecbfc8c",
    "memguard": "da87106dc375886ec5b9cc5f93ec094b1cb6bdbe6d16914003a086c2eecbfc8c",
    "l2": "6419f7e954f55f1b90e839590cdc5e8645db926d462143210f08316b59cb2da5",
    "dpsgd": "07f3c51f6e699022bdaef377d6948c6c86124637ab7c61c0ff3bea916a3aa6d7",
    "advreg": "589fcd0226979c4199a67e487f720556a1ffbe6c269f4eb03bd4ccd7355f4027",
    "stacking": "41a5113cc50bfa8d3cffc28e8ea11d8408d35c955a8a23e42d859df2b23ab0a0",
    "early-stopping": "1bed2a9d1668b2df228b2e7c166b48cac7b2c385e0d581fa24ae20939bd02fce",
}


@pytest.mark.parametrize("name", sorted(KEYS_BEFORE))
def test_cache_keys_are_those_of_before_the_split(blobs, name):
    s, _, _, split = blobs
    factory = _factory(blobs, s.registry.defense(name))
    assert factory.key("target", split.members, 0) == KEYS_BEFORE[name]
    assert spec_key(factory.spec("target", split.members, 0)) == KEYS_BEFORE[name]


def test_serving_only_defenses_share_the_baseline_identity(blobs):
    s = blobs[0]
    for name in ("none", "label-only", "memguard", "top-k", "rounding"):
        assert s.registry.defense(name).training_identity() == {"name": "none", "params": {}, "version": "1"}
    assert s.registry.defense("l2", weight_decay=0.1).training_identity() == {"name": "l2", "params": {"weight_decay": 0.1}, "version": "1"}


class _SilentTrain(Defense):
    name = "silent-train"  # overrides train, declares nothing

    def train(self, trainer, data):
        return trainer.fit(data)


class _SilentRecipe(Defense):
    name = "silent-recipe"

    def adapt_recipe(self, recipe):
        return recipe.replace(lr=recipe.lr / 2)


class _Declared(Defense):
    name = "declared"
    changes_training = True

    def train(self, trainer, data):
        return trainer.fit(data)


class _DeclaredRecipe(Defense):
    name = "declared-recipe"
    changes_training = True
    batchable = True

    def adapt_recipe(self, recipe):
        return recipe.replace(lr=recipe.lr / 2)


@pytest.mark.parametrize("cls, what", [(_SilentTrain, r"overrides train\(\)"), (_SilentRecipe, "changes the training recipe")])
def test_an_undeclared_training_change_is_refused_not_cached_as_the_baseline(blobs, cls, what):
    with pytest.raises(PluginError, match=rf"{cls.name!r} {what} but declares changes_training = False.*{cls.__name__}"):
        _factory(blobs, cls())


def test_batching_follows_the_declarations(blobs, monkeypatch):
    s, track, data, split = blobs
    assert _factory(blobs, s.registry.defense("none")).batchable()  # serving-only: the track's declaration decides
    assert _factory(blobs, s.registry.defense("l2")).batchable()  # declared: a recipe change only
    assert _factory(blobs, _DeclaredRecipe()).batchable()
    assert not _factory(blobs, _Declared()).batchable()  # changes training, not declared batchable
    assert not _factory(blobs, s.registry.defense("stacking")).batchable()

    class Undeclared(type(track)):  # same training, but the subclass does not declare it batchable
        batchable = False

    assert not _factory(blobs, s.registry.defense("none"), track=Undeclared()).batchable()
    monkeypatch.setenv("PRIVBENCH_BATCHED_SHADOWS", "0")
    assert not _factory(blobs, s.registry.defense("none")).batchable()
    assert Track.batchable is False and Defense.batchable is False and Defense.changes_training is False


def test_a_defense_that_is_not_batchable_trains_one_at_a_time(blobs):
    s, _, _, split = blobs
    factory = ModelFactory(blobs[1], blobs[2], split.sha256, _Declared(), make_session().cache)
    out = factory.get_many("shadow", [split.population[:100], split.population[100:200]], [0, 1])
    assert [cached for _, _, cached, _ in out] == [False, False]
    assert all("batched" not in e for e in factory.cache.entries())
    again = factory.get_many("shadow", [split.population[:100], split.population[100:200]], [0, 1])
    assert [cached for _, _, cached, _ in again] == [True, True]
    x = blobs[2].x[:20]
    for (a, _, _, _), (b, _, _, _) in zip(out, again):
        np.testing.assert_allclose(predict_logits(a, x), predict_logits(b, x), atol=1e-6)


def test_a_recipe_change_declared_batchable_trains_stacked_with_its_recipe(blobs):
    s, _, _, split = blobs
    factory = ModelFactory(blobs[1], blobs[2], split.sha256, _DeclaredRecipe(), make_session().cache)
    factory.get_many("shadow", [split.population[:100], split.population[100:200]], [0, 1])
    entries = factory.cache.entries()
    assert [e["batched"] for e in entries] == [2, 2]
    assert all(e["spec"]["recipe"]["lr"] == blobs[1].recipe.lr / 2 for e in entries)
    assert all(e["spec"]["defense"]["name"] == "declared-recipe" for e in entries)
