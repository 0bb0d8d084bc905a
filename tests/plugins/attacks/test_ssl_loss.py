"""ssl-loss: the contrastive (NT-Xent) loss read through embeddings is lower for aligned, well-separated views."""

import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.ssl_loss import ntxent_loss


def test_ntxent_loss_is_low_for_aligned_views_and_high_for_crowded_ones():
    rng = np.random.default_rng(0)
    unit = lambda e: e / np.linalg.norm(e, axis=-1, keepdims=True)
    negatives = unit(rng.normal(size=(64, 32)))
    centre = unit(rng.normal(size=(8, 1, 32)))
    aligned = unit(centre + 0.05 * rng.normal(size=(8, 4, 32)))
    scattered = unit(centre + 2.0 * rng.normal(size=(8, 4, 32)))
    assert (ntxent_loss(aligned, negatives, 0.5) < ntxent_loss(scattered, negatives, 0.5)).all()
    crowded = np.concatenate([negatives, np.repeat(aligned[:, 0], 8, axis=0)])  # other images sit on the views
    assert (ntxent_loss(aligned, negatives, 0.5) < ntxent_loss(aligned, crowded, 0.5)).all()


@pytest.mark.slow
def test_ssl_loss_runs_on_embeddings_only(tmp_path):
    session = make_session(cache_dir=tmp_path)
    ctx, is_member = make_context("ssl-loss", track="ssl-encoder-digits", budget="cpu", session=session)
    scores = session.registry.attack("ssl-loss").score(ctx)
    assert np.isfinite(scores).all() and ctx.threshold is not None
    assert auc(scores, is_member) > 0.5
