import numpy as np

from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.nasr import nasr_features


def test_attack_model_trained_on_shadow_features():
    session = make_session()
    ctx, is_member = make_context("nasr", track="synthetic-blobs", session=session, n_shadows=2)
    c = ctx.candidates
    f = nasr_features(ctx.target.module, c.x[:10], c.y[:10], ctx.track.num_classes)
    k = ctx.track.num_classes
    # loss, log-probs, one-hot label, p - onehot (last-layer bias gradient), per-tensor grad norms, activation stats
    n_tensors = len(list(ctx.target.module.parameters()))
    assert f.shape == (10, 1 + 3 * k + n_tensors + 4)
    assert np.allclose(f[:, 1 + k : 1 + 2 * k], np.eye(k)[c.y[:10]])
    scores = session.registry.attack("nasr", n_shadows=2).score(ctx)
    assert ctx.budget.used["shadow_models"] == 2
    assert auc(scores, is_member) > 0.55
