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
    "stacking": "41a5113cc50bfa8d3cffc28e8ea11d8408d35c955a8a23e42d859df2b23ab0a0",
}
# advreg, early-stopping and dmp left this list at their version 2: they train with population reference data
# (in their keys) instead of holding members out, so their models changed.


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


def test_workers_sharing_a_cache_split_a_groups_models_instead_of_queueing(blobs):
    # Another worker (a local slot, a Ray task) holds model 0's lock, training it: this one trains models 1 and 2
    # meanwhile, then waits for model 0 and, its trainer gone without saving it, trains it too. Under one lock
    # over the group it trained nothing until the other worker had finished.
    import threading

    s, _, _, split = blobs
    factory = ModelFactory(blobs[1], blobs[2], split.sha256, _Declared(), make_session().cache)
    units = [split.population[i * 100 : (i + 1) * 100] for i in range(3)]
    keys = [factory.key("shadow", u, seed) for seed, u in enumerate(units)]
    result = {}
    with factory.cache.claim(keys[0]) as ours:
        assert ours
        worker = threading.Thread(target=lambda: result.setdefault("out", factory.get_many("shadow", units, [0, 1, 2])))
        worker.start()
        for _ in range(600):  # models 1 and 2 are saved while model 0 is still held
            if {e["key"] for e in factory.cache.entries()} >= set(keys[1:]):
                break
            worker.join(0.1)
        assert {e["key"] for e in factory.cache.entries()} == set(keys[1:])
        assert worker.is_alive()  # waiting for model 0
    worker.join(120)
    assert [cached for _, _, cached, _ in result["out"]] == [False, False, False]
    assert {e["key"] for e in factory.cache.entries()} == set(keys)
    with factory.cache.claim(keys[1]) as again:
        assert again  # every claim released


def test_a_groups_cached_models_do_not_change_how_its_misses_stack(blobs, monkeypatch):
    # One process, part of a group cached: its misses stack batch_limit() at a time, as before workers claimed
    # models one by one (a hit in a claimed stack would shrink it, and a model's weights follow its stack's size).
    monkeypatch.setenv("PRIVBENCH_BATCHED_SHADOWS", "2")
    s, _, _, split = blobs
    factory = ModelFactory(blobs[1], blobs[2], split.sha256, _DeclaredRecipe(), make_session().cache)
    units = [split.population[i * 100 : (i + 1) * 100] for i in range(4)]
    factory.get_many("shadow", units[:1], [0])
    out = factory.get_many("shadow", units, [0, 1, 2, 3])
    assert [cached for _, _, cached, _ in out] == [True, False, False, False]
    assert [meta["batched"] for _, meta, _, _ in out] == [1, 2, 2, 1]


def test_a_recipe_change_declared_batchable_trains_stacked_with_its_recipe(blobs):
    s, _, _, split = blobs
    factory = ModelFactory(blobs[1], blobs[2], split.sha256, _DeclaredRecipe(), make_session().cache)
    factory.get_many("shadow", [split.population[:100], split.population[100:200]], [0, 1])
    entries = factory.cache.entries()
    assert [e["batched"] for e in entries] == [2, 2]
    assert all(e["spec"]["recipe"]["lr"] == blobs[1].recipe.lr / 2 for e in entries)
    assert all(e["spec"]["defense"]["name"] == "declared-recipe" for e in entries)


def test_reference_units_are_population_units_outside_the_training_set_and_enter_the_key(blobs):
    s, t, data, split = blobs
    advreg = s.registry.defense("advreg")
    factory = ModelFactory(t, data, split.sha256, advreg, s.cache, population=split.population)
    ref = factory.reference_units(split.members, 3)
    assert len(ref) == advreg.reference_size(len(split.members)) > 0
    assert np.isin(ref, split.population).all() and not np.isin(ref, split.members).any()
    assert np.array_equal(ref, factory.reference_units(split.members, 3))  # drawn from the model's seed
    assert not np.array_equal(ref, factory.reference_units(split.members, 4))
    half = split.population[: len(split.population) // 2]  # a shadow trained on population units gets the others
    assert not np.isin(factory.reference_units(half, 3), half).any()
    spec = factory.spec("target", split.members, 3)
    assert spec["n_reference"] == len(ref)
    other = ModelFactory(t, data, split.sha256, advreg, s.cache, population=split.population[::-1][:-1])
    assert other.key("target", split.members, 3) != factory.key("target", split.members, 3)
    with pytest.raises(PluginError, match="advreg.*no population units"):
        _factory(blobs, advreg).key("target", split.members, 3)


@pytest.fixture(scope="module")
def small_digits():
    """digits with a 3-epoch recipe: enough to train every training defense once in a test."""
    s = make_session()
    track, data, split = s.track("digits")
    small = type(track)()
    small.recipe = track.recipe.replace(epochs=3)  # on the instance only: the track class keeps its recipe
    return s, small, data, split


def _training_defenses(registry):
    """Every registered defense that changes training and applies to classification: new ones are covered as they come."""
    from bench import Task

    out = []
    for reg in registry.items("defenses"):
        defense = registry.defense(reg.name)
        if defense.changes_training and defense.supports(Task.CLASSIFICATION):
            out.append(defense)
    return out


@pytest.mark.slow
def test_every_training_defense_fits_each_member_it_is_scored_on(small_digits):
    s, track, data, split = small_digits
    defenses = _training_defenses(s.registry)
    assert {"advreg", "dmp", "early-stopping", "dpsgd", "stacking"} <= {d.name for d in defenses}
    members = set(np.asarray(track.training_rows(data, split.members)).tolist())
    for defense in defenses:
        factory = ModelFactory(track, data, split.sha256, defense, s.cache, population=split.population)
        _, meta, _ = factory.get("target", split.members, 0)
        fitted = meta["fitted_rows"]
        assert fitted is not None, f"{defense.name}: the trainer logged no fitted rows"
        missing = members - set(fitted)
        assert not missing, f"{defense.name}: {len(missing)} members scored as members were never fitted"
        extra = set(fitted) - members  # only population reference data (dmp's student inputs), never non-members
        assert extra <= set(split.population.tolist()), defense.name
        _, again, cached = factory.get("target", split.members, 0)
        assert cached and again["fitted_rows"] == fitted, f"{defense.name}: fitted rows not in the cached meta"
