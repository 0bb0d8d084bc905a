import numpy as np
import pytest

from bench._pool_design import PoolDesign, draw_pool_design


def test_every_model_trains_on_half_the_pool_and_units_are_in_for_half_the_models():
    d = draw_pool_design(n_units=1797, train_size=500, n_models=17, population=797, seed=0)
    assert len(d.pool) == 1000 and len(d.population) == 797
    assert (d.keep.sum(axis=1) == 500).all()
    frac = d.keep.mean(axis=0)
    assert abs(frac.mean() - 0.5) < 1e-9  # exactly N of 2N per model
    assert 0.35 < np.median(frac) < 0.65
    assert not np.intersect1d(d.pool, d.population).size


def test_target_membership_is_independent_of_its_shadows_inclusion():
    """Counting the shadows that include a unit must not reveal whether the target does (AUC ≈ 0.5 per target)."""
    from bench.metrics import auc

    d = draw_pool_design(n_units=5000, train_size=2000, n_models=16, population=500, seed=3, n_targets=8)
    for t in range(d.n_targets):
        count = d.keep[d.shadows_of(t)].sum(axis=0).astype(float)
        assert abs(auc(count, d.is_member(t)) - 0.5) < 0.03, t


def test_no_target_is_ever_a_shadow_so_no_run_holds_a_target_membership():
    """Were target t+1 a shadow of target t, the run against t would hold t+1's inclusion row: one covert channel
    (a reviewer's attack used the page cache) from the run against t+1. Every target gets the same non-target rows."""
    d = draw_pool_design(1797, 500, 8 + 16, 797, seed=0, n_targets=8)
    shown = {d.keep[m].tobytes() for t in range(d.n_targets) for m in d.shadows_of(t)}
    assert all(np.array_equal(d.shadows_of(t), np.arange(8, 24)) for t in range(8))
    assert not any(d.keep[t].tobytes() in shown for t in range(d.n_targets))
    with pytest.raises(ValueError, match="not a target"):
        d.shadows_of(8)


def test_growing_the_tier_keeps_the_first_models():
    small = draw_pool_design(1797, 500, 5, 797, seed=1)
    large = draw_pool_design(1797, 500, 17, 797, seed=1)
    assert np.array_equal(small.pool, large.pool) and np.array_equal(small.keep, large.keep[:5])
    assert small.sha256 != large.sha256
    assert draw_pool_design(1797, 500, 5, 797, seed=2).sha256 != small.sha256


def test_bad_designs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="needs 2100 units"):
        draw_pool_design(2000, 1000, 4, 100, seed=0)
    with pytest.raises(ValueError, match="at least 2 models"):
        draw_pool_design(2000, 500, 1, 100, seed=0)
    with pytest.raises(ValueError, match="at least 9 models"):
        draw_pool_design(2000, 500, 8, 100, seed=0, n_targets=8)
    with pytest.raises(ValueError, match="overlap"):
        PoolDesign(np.arange(4), np.arange(3, 6), np.ones((2, 4), dtype=bool))
