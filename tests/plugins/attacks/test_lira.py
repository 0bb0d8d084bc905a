import numpy as np

from bench.metrics import auc
from bench.testing import make_context, make_session


def test_online_lira_exports_memorization_scores():
    session = make_session()
    # The cpu tier's device-second budget leaves room for a loaded test machine.
    ctx, is_member = make_context("lira", track="synthetic-blobs", session=session, budget="cpu", n_shadows=4)
    scores = session.registry.attack("lira", n_shadows=4).score(ctx)
    mem, gap = ctx.exports["memorization"], ctx.exports["lira_gap"]
    assert mem.shape == gap.shape == (len(ctx.candidates),)
    ok = np.isfinite(mem)
    assert ok.mean() > 0.5 and np.all((mem[ok] >= -1) & (mem[ok] <= 1))
    # Training on an example raises its confidence and correctness: the IN/OUT gaps are positive on average.
    assert np.nanmean(gap) > 0 and np.nanmean(mem) > 0
    assert auc(scores, is_member) > 0.55


def test_offline_lira_exports_nothing():
    session = make_session()
    ctx, _ = make_context("lira-offline", track="synthetic-blobs", session=session, n_shadows=2)
    session.registry.attack("lira-offline", n_shadows=2).score(ctx)
    assert "memorization" not in ctx.exports
