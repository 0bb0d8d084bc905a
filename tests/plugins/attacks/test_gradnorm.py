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
