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


@pytest.mark.slow
def test_cached_shadows_are_charged_their_machine_independent_cost(session, tmp_path):
    from bench.testing import make_session

    ctx1, _ = make_context("lira", session=session, seed=3)
    sh = ctx1.shadows(2)
    recorded = sum(m.train_seconds for m in sh)
    ctx2, _ = make_context("lira", session=session, seed=3)
    sh2 = ctx2.shadows(2)
    assert all(m.cached for m in sh2)
    used1, used2 = ctx1.budget.used, ctx2.budget.used
    assert used2["shadow_models"] == 2 and used2["shadow_steps"] > 0 and used2["shadow_flops"] > 0
    assert used2["shadow_seconds_recorded"] == pytest.approx(recorded, abs=2e-3)  # the measured time, reported beside
    assert used2["device_seconds"] >= used2["shadow_seconds_charged"] > 0
    # Retrained from scratch (another cache: other wall-clock seconds, whatever the load), charged the same.
    with make_session(cache_dir=tmp_path / "cold") as cold:
        ctx3, _ = make_context("lira", session=cold, seed=3)
        assert not any(m.cached for m in ctx3.shadows(2))
        used3 = ctx3.budget.used
    for key in ("shadow_steps", "shadow_flops", "shadow_seconds_charged"):
        assert used1[key] == used2[key] == used3[key], key
