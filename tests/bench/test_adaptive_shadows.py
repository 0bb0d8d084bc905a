"""The adaptive attacker: shadow models are trained and served with the target's defense, and records say so."""

import types

import numpy as np
import pytest

from bench import Attack, ThreatModel, hookimpl
from bench._plugins import load_plugins
from bench.testing import make_session, run_cell

SEEN: dict[str, object] = {}


class Probe(Attack):
    """Records what its shadow models look like, then scores at random."""

    name = "probe"
    threat_model = ThreatModel.SCORES

    def score(self, ctx):
        shadows = ctx.shadows(1)
        s = shadows[0]
        SEEN["shadow_scores"] = s.predict_scores(shadows.pool.x[:50])
        SEEN["shadow_module"] = s.module
        SEEN["target_scores"] = ctx.target.predict_scores(ctx.candidates.x[:50])
        return ctx.rng.random(len(ctx.candidates))


def session():
    manager, _ = load_plugins()
    mod = types.SimpleNamespace(register_attacks=hookimpl(lambda register: register(Probe)))
    manager.register_module("probe", mod)
    return make_session(registry=manager.registry())


@pytest.mark.slow
def test_shadows_are_served_through_the_defense():
    rec = run_cell("probe", defense="label-only", session=session())
    assert rec["status"] == "ok", rec["error"]
    assert rec["defense"]["adaptive_shadows"] is True
    for key in ("shadow_scores", "target_scores"):
        s = SEEN[key]
        assert set(np.unique(s)) == {0.0, 1.0} and (s.sum(1) == 1).all()


@pytest.mark.slow
def test_shadows_are_trained_with_the_defense():
    rec = run_cell("probe", defense="stacking", session=session())
    assert rec["status"] == "ok", rec["error"]
    assert rec["defense"]["adaptive_shadows"] is True
    assert len(SEEN["shadow_module"].bases) == 2  # the shadow is a stacked model, like the target
    rec = run_cell("probe", defense="dropout", defense_params={"p": 0.25}, session=session())
    import torch

    assert [m.p for m in SEEN["shadow_module"].modules() if isinstance(m, torch.nn.Dropout)] == [0.25]


def test_serving_only_defenses_reuse_the_baseline_models():
    from bench._context import ModelFactory

    s = make_session()
    track, data, split = s.track("synthetic-blobs")
    spec = lambda name: ModelFactory(track, data, split.sha256, s.registry.defense(name), s.cache).spec("target", split.members, 0)  # noqa: E731
    assert spec("label-only") == spec("memguard") == spec("none")  # same training, same cached weights
    assert spec("l2") != spec("none") and spec("dpsgd") != spec("none")
