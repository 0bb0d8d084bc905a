import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session


@pytest.fixture(scope="module")
def session():
    return make_session()


@pytest.mark.parametrize("epochs", [3, 20])
def test_trajectory_length_is_fixed_by_the_parameter(session, epochs):
    ctx, is_member = make_context("trajectory", track="synthetic-blobs", session=session, distill_epochs=epochs)
    scores = session.registry.attack("trajectory", distill_epochs=epochs).score(ctx)
    traj = ctx.exports["trajectory"]
    # One loss per distillation epoch, then the target's own loss: nothing chosen from the target's truth.
    assert traj.shape == (len(ctx.candidates), epochs + 1)
    assert np.isfinite(traj).all() and (traj >= 0).all()
    assert ctx.budget.used["shadow_models"] == 1
    assert np.isfinite(scores).all()
    if epochs == 20:
        assert auc(scores, is_member) > 0.55
