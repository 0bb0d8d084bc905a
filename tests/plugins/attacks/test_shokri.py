import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session


@pytest.mark.slow
def test_one_attack_model_per_class_on_n_shadows():
    session = make_session()
    ctx, is_member = make_context("shokri", track="synthetic-blobs", session=session, n_shadows=3)
    attack = session.registry.attack("shokri", n_shadows=3)
    scores = attack.score(ctx)
    assert sorted(attack.attack_models) == list(range(ctx.track.num_classes))
    assert len({id(m) for m in attack.attack_models.values()}) == ctx.track.num_classes
    # Each per-class model sees a probability vector (one input per class).
    assert all(m[-1].n_features_in_ == ctx.track.num_classes for m in attack.attack_models.values())
    assert ctx.budget.used["shadow_models"] == 3
    assert auc(scores, is_member) > 0.55
