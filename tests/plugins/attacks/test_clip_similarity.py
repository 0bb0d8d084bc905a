"""CLIP-similarity on synthetic-captions: above chance against the overfit CLIP-style target, threshold from a shadow."""

from bench.testing import make_context, make_session, run_cell


def test_caption_membership_above_chance(session_cache):
    with make_session(cache_dir=session_cache) as session:
        rec = run_cell("clip-similarity", track="synthetic-captions", session=session)
        assert rec["status"] == "ok", rec["error"]
        assert rec["metrics"]["auc"] > 0.6
        ctx, _ = make_context("clip-similarity", track="synthetic-captions", session=session, calibration_shadows=0)
        session.registry.attack("clip-similarity", calibration_shadows=0).score(ctx)
        assert ctx.threshold is None  # no shadow, no operating point: never one fitted on the target
