"""CLIP-similarity on synthetic-captions: above chance against the overfit CLIP-style target, threshold from a shadow."""

import numpy as np
import pytest

from bench.testing import make_context, make_session, run_cell


@pytest.mark.slow
def test_caption_membership_above_chance(session_cache):
    with make_session(cache_dir=session_cache) as session:
        rec = run_cell("clip-similarity", track="synthetic-captions", session=session)
        assert rec["status"] == "ok", rec["error"]
        assert rec["metrics"]["auc"] > 0.6
        ctx, _ = make_context("clip-similarity", track="synthetic-captions", session=session, calibration_shadows=0)
        session.registry.attack("clip-similarity", calibration_shadows=0).score(ctx)
        assert ctx.threshold is None  # no shadow, no operating point: never one fitted on the target


class _Similarities:
    """A CLIP-style model whose similarity of pair i is fixed (``image`` holds the pair indices)."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)

    def similarity(self, image, caption):
        return self.values[np.asarray(image)]


def test_scores_are_the_target_similarity_and_the_threshold_the_shadows_youden(fake_context, fake_shadows):
    from bench import Candidates
    from plugins.attacks._shared import youden
    from plugins.attacks.clip_similarity import ClipSimilarity

    pool = Candidates(image=np.arange(6), caption=[f"c{i}" for i in range(6)])
    shadow_values = [0.9, 0.8, 0.7, 0.2, 0.3, 0.6]
    inclusion = [[True, True, True, False, False, False]]
    target = _Similarities([0.1, 0.5, 0.95])
    ctx = fake_context(Candidates(image=np.arange(3), caption=["a", "b", "c"]), target, fake_shadows([_Similarities(shadow_values)], pool, inclusion))
    scores = ClipSimilarity().score(ctx)
    np.testing.assert_allclose(scores, [0.1, 0.5, 0.95], rtol=1e-6)
    assert ctx.shadow_requests == [1]
    assert ctx.threshold == pytest.approx(youden(np.asarray(shadow_values, dtype=float), np.asarray(inclusion[0]))) == pytest.approx(0.7)
