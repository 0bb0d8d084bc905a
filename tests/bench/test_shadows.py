"""Shadow models (bench._shadows): balanced inclusion over the public pool, cached and charged at recorded cost."""

import numpy as np
import pytest

from bench.testing import make_context


def test_online_shadows_are_balanced_and_train_on_candidates(session):
    ctx, _ = make_context("lira", session=session)
    sh = ctx.shadows(ctx.budget.max_shadows, online=True)  # balance holds for the full set; smaller sets are its prefixes
    n_c = len(ctx.candidates)
    assert sh.inclusion.shape == (4, n_c + len(ctx.population))
    assert sh.candidate_inclusion.shape == (4, n_c)
    counts = sh.inclusion.sum(axis=0)
    assert counts.min() == counts.max()  # every pool point IN for the same number of models
    np.testing.assert_array_equal(sh.pool.x[:n_c], ctx.candidates.x)
    np.testing.assert_array_equal(ctx.shadows(2, online=True).inclusion, sh.inclusion[:2])
    ctx, _ = make_context("lira", session=session)
    off = ctx.shadows(2)
    assert off.inclusion.shape == (2, len(ctx.population)) and off.n_candidates == 0
    with pytest.raises(ValueError, match="offline shadows never train on candidates"):
        off.candidate_inclusion


def test_cached_shadows_are_charged_at_recorded_cost(session):
    ctx1, _ = make_context("lira", session=session, seed=3)
    sh = ctx1.shadows(2)
    recorded = sum(m.train_seconds for m in sh)
    ctx2, _ = make_context("lira", session=session, seed=3)
    sh2 = ctx2.shadows(2)
    assert all(m.cached for m in sh2)
    assert ctx2.budget.used["shadow_models"] == 2
    assert ctx2.budget.used["device_seconds"] >= recorded * 0.99
