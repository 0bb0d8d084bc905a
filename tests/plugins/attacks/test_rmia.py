import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session
from bench.signals import augment, query_augmentations, true_class_prob
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


@pytest.mark.slow
def test_each_pseudo_target_calibrates_on_z_it_never_trained_on(monkeypatch):
    """Outside the pool design z are pool points some references trained on; reference k, as a pseudo-target, must
    see only z it left out (as the target never trained on its z), and their Pr(z) from the other references that
    left them out too (version 4 gave it every z). Checked on the z count and values of each calibration call."""
    import plugins.attacks.rmia as rmia

    session = make_session()
    ctx, _ = make_context("rmia", track="synthetic-blobs", session=session, n_shadows=4)
    sample, calls, drawn = rmia._population_sample, [], []

    def lopsided(ctx_, refs, n):  # reference k also trained on a different share of z: 3 − k in 4 of those it left out
        z, out = sample(ctx_, refs, n)
        cut = out & (np.arange(len(z))[None, :] % 4 <= np.arange(len(out))[:, None])
        empty = ~cut.any(axis=0)  # every z keeps an OUT reference, as the real draw guarantees
        cut[:, empty] = out[:, empty]
        drawn.append((z, cut))
        return z, cut

    def spy(target_x, target_z, ref_out_x, ref_out_z, **kw):
        calls.append(np.asarray(target_z))
        return rmia_scores(target_x, target_z, ref_out_x, ref_out_z, **kw)

    rmia_scores = rmia.rmia_scores
    monkeypatch.setattr(rmia, "_population_sample", lopsided)
    monkeypatch.setattr(rmia, "rmia_scores", spy)
    session.registry.attack("rmia", n_shadows=4, n_population=60).score(ctx)

    refs, [(z, out)] = ctx.shadows(4), drawn
    assert len(calls) == 1 + 4 and len(calls[0]) == len(z)  # the target on every z, then each pseudo-target
    for k, got in enumerate(calls[1:]):
        keep = out[k] & out[np.arange(4) != k].any(axis=0)
        assert len(got) == keep.sum(), f"pseudo-target {k} calibrated on z it trained on"
        assert k == 3 or keep.sum() < out[3].sum()  # the lopsided draw left fewer z to references 0-2
        expected = np.maximum(np.stack([true_class_prob(refs[k].predict_scores(augment(z.x[keep], q)), z.y[keep])
                                        for q in query_augmentations(2, ctx.track.augmentations)], axis=1), 1e-6)
        assert np.allclose(got, expected)
