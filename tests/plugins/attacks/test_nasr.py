import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.nasr import nasr_features


@pytest.mark.slow
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


def test_nasr_features_are_loss_probabilities_label_error_gradients_and_activation_summaries():
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = np.random.default_rng(0).normal(size=(5, 1, 2, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    f = nasr_features(module, x, y, 3)
    n_param_tensors = 4
    assert f.shape == (5, 1 + 3 + 3 + 3 + n_param_tensors + 4) and np.isfinite(f).all()
    probs = np.exp(f[:, 1:4])
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(f[:, 0], -np.log(probs[np.arange(5), y]), rtol=1e-4)  # the loss column
    np.testing.assert_allclose(f[:, 7:10], probs - np.eye(3)[y], atol=1e-6)  # the error column block
