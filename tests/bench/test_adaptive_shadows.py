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


def session(cache_dir):
    manager, _ = load_plugins()
    mod = types.SimpleNamespace(register_attacks=hookimpl(lambda register: register(Probe)))
    manager.register_module("probe", mod)
    return make_session(registry=manager.registry(), cache_dir=cache_dir)


def trained_with(s, role):
    """The training identities (``spec.defense``) of the cached models of one role."""
    return [e["spec"]["defense"] for e in s.cache.entries() if e["spec"]["role"] == role]


@pytest.mark.slow
def test_shadows_are_served_through_the_defense(tmp_path):
    s = session(tmp_path)
    rec = run_cell("probe", defense="label-only", session=s)
    assert rec["status"] == "ok", rec["error"]
    # label-only changes serving only: target and shadow are the baseline's models, both served one-hot
    assert trained_with(s, "shadow") == trained_with(s, "target") == [{"name": "none", "params": {}, "version": "1"}]
    for key in ("shadow_scores", "target_scores"):
        scores = SEEN[key]
        assert set(np.unique(scores)) == {0.0, 1.0} and (scores.sum(1) == 1).all()


@pytest.mark.slow
def test_shadows_are_trained_with_the_defense(tmp_path):
    s = session(tmp_path / "stacking")
    rec = run_cell("probe", defense="stacking", session=s)
    assert rec["status"] == "ok", rec["error"]
    assert [d["name"] for d in trained_with(s, "shadow")] == [d["name"] for d in trained_with(s, "target")] == ["stacking"]
    assert len(SEEN["shadow_module"].bases) == 2  # the shadow is a stacked model, like the target
    rec = run_cell("probe", defense="dropout", defense_params={"p": 0.25}, session=session(tmp_path / "dropout"))
    import torch

    assert [m.p for m in SEEN["shadow_module"].modules() if isinstance(m, torch.nn.Dropout)] == [0.25]
