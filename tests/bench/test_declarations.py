"""A defense cannot smuggle a training change past its declaration, and an attack cannot overwrite the truth."""

import types

import numpy as np
import pytest

from bench import Defense, PluginError
from bench._models import check_declarations
from bench.testing import make_context


class _Sneaky(Defense):
    name = "sneaky"  # declares no training change (the default) ...

    def __init__(self, **kw):
        super().__init__(**kw)
        self.train = lambda trainer, data: trainer.fit(data[:5])  # ... and trains on 5 rows, set on the instance


def test_an_instance_level_train_override_is_refused():
    with pytest.raises(PluginError, match="overrides train"):
        check_declarations(_Sneaky(), None)


def test_a_baseline_declaring_defense_gets_the_baseline_training_whatever_it_overrides():
    from bench._track import Track

    calls = []

    class Trainer:
        def fit(self, data, **kw):
            calls.append(len(data))
            return types.SimpleNamespace()  # a TrainedModel stand-in (the track records its fitted rows on it)

    class T(Track):
        name = "t"
        recipe = None

        def trainer(self, recipe, seed, device, progress=None):
            return Trainer()

    T().train(list(range(40)), _Sneaky(), seed=0)
    assert calls == [40]  # Defense.train: the whole training set, not the instance's 5 rows


def test_an_attack_cannot_export_under_the_harness_names():
    ctx, _ = make_context("loss")
    for name in ("is_member", "scores", "candidate_units"):
        with pytest.raises(ValueError, match="reserved"):
            ctx.export(name, np.zeros(len(ctx.candidates)))
    ctx.export("memorization", np.zeros(len(ctx.candidates)))
    assert set(ctx.exports) == {"memorization"}
