import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.rmia import _population_sample, _rmia


def test_score_is_fraction_of_population_samples_beaten():
    ratio_x = np.array([[0.5], [2.0], [10.0]])
    ratio_z = np.array([[1.0], [1.5], [3.0], [4.0]])
    s = _rmia(ratio_x, ratio_z, gamma=1.0)
    # 0, 2 and 4 of the 4 z are beaten (ties broken below one z-step only).
    assert np.allclose(s, [0.0, 0.5, 1.0], atol=0.4 / 4 + 1e-12)
    assert np.all(np.diff(s) > 0)
    # A larger gamma makes the pairwise test stricter.
    assert _rmia(ratio_x, ratio_z, gamma=2.0)[1] < s[1]


@pytest.mark.slow
def test_offline_with_few_reference_models():
    session = make_session()
    ctx, is_member = make_context("rmia", track="synthetic-blobs", session=session, n_shadows=2)
    scores = session.registry.attack("rmia", n_shadows=2).score(ctx)
    assert ctx.budget.used["shadow_models"] == 2
    assert ctx.threshold is not None
    assert auc(scores, is_member) > 0.55


@pytest.mark.slow
def test_masked_one_hot_outputs_keep_scores_finite():
    # Under label-only serving every probability is 0 or 1: the ratios must stay finite (found on fashion-mnist).
    session = make_session()
    ctx, is_member = make_context("rmia", track="synthetic-blobs", session=session, defense="label-only", n_shadows=2)
    probs = ctx.target.predict_scores(ctx.candidates.x)
    assert set(np.unique(probs)) <= {0.0, 1.0}
    scores = session.registry.attack("rmia", n_shadows=2).score(ctx)
    assert np.isfinite(scores).all() and np.isfinite(ctx.threshold)
    assert auc(scores, is_member) > 0.5


@pytest.mark.slow
def test_z_points_are_out_for_every_reference_model():
    """Outside the pool design (synthetic-blobs: the references also trained on population halves), z are population
    points, never candidates, and ``out`` says exactly which references left each out (Pr(z) averages those).
    The pool design's case is tests/bench/test_pool_exploits.py."""
    session = make_session()
    ctx, _ = make_context("rmia", track="synthetic-blobs", session=session, n_shadows=4)
    refs = ctx.shadows(4)
    z, out = _population_sample(ctx, refs, 50)
    assert len(z) == 50 and out.shape == (4, 50) and out.any(axis=0).all()
    flat = lambda d: [r.tobytes() for r in np.asarray(d.x).reshape(len(d), -1)]  # noqa: E731
    trained = [set(flat(refs.pool[np.flatnonzero(row)])) for row in np.asarray(refs.inclusion, dtype=bool)]
    assert all((b in trained[r]) != out[r, j] for j, b in enumerate(flat(z)) for r in range(4))  # out: did not train on z
    assert not set(flat(z)) & set(flat(ctx.candidates)), "z are never the target's candidates"
