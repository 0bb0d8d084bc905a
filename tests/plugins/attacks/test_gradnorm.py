import numpy as np
import pytest
import torch

from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.gradnorm import grad_norm_score


@pytest.mark.slow
def test_score_is_minus_the_per_example_gradient_norm():
    session = make_session()
    ctx, is_member = make_context("gradnorm", track="synthetic-blobs", session=session)
    module = ctx.target.module
    c = ctx.candidates
    got = grad_norm_score(module, c.x[:5], c.y[:5])
    for i in range(5):
        module.zero_grad()
        out = module(torch.as_tensor(c.x[i : i + 1]))
        torch.nn.functional.cross_entropy(out, torch.as_tensor(c.y[i : i + 1])).backward()
        norm = torch.sqrt(sum((p.grad**2).sum() for p in module.parameters())).item()
        assert np.isclose(got[i], -norm, rtol=1e-4)
    scores = session.registry.attack("gradnorm").score(ctx)
    assert ctx.budget.used["queries"] == 0  # white-box: no query to the served model
    assert ctx.threshold is not None and auc(scores, is_member) > 0.55


def test_grad_norm_score_is_minus_each_examples_gradient_norm_on_a_small_module():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = np.random.default_rng(0).normal(size=(6, 1, 2, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    got = grad_norm_score(module, x, y)
    for i in range(len(x)):
        module.zero_grad()
        torch.nn.functional.cross_entropy(module(torch.as_tensor(x[i : i + 1])), torch.as_tensor(y[i : i + 1])).backward()
        assert got[i] == pytest.approx(-torch.sqrt(sum((p.grad**2).sum() for p in module.parameters())).item(), rel=1e-4)


def test_confident_examples_keep_a_non_zero_gradient_in_float64():
    """Past a logit margin of about 100 the float32 softmax's other classes underflow to 0 and the cross-entropy
    gradient is exactly 0 (2.5–21 % of fashion-mnist candidates under dropout/dpsgd): a tie at the member end."""
    import torch

    from plugins.attacks._shared import per_example_grad_norms

    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3)
    with torch.no_grad():
        module.weight.zero_()
        module.bias.copy_(torch.tensor([0.0, -120.0, -160.0]))
        module.weight[0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    y = np.zeros(6, dtype=int)
    f32 = per_example_grad_norms(module, x, y)
    f64 = per_example_grad_norms(module, x, y, float64=True)
    assert (f32 == 0).all(axis=1).any()  # float32: some gradients vanish exactly
    assert (f64.sum(axis=1) > 0).all() and len(np.unique(f64.sum(axis=1))) == 6
    assert module.weight.dtype == torch.float32  # the target's module is left as it was
