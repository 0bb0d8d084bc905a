"""M⁴I on synthetic-captions: above chance against the overfit captioner."""

import numpy as np
import pytest

from bench.testing import make_session, run_cell


@pytest.fixture(scope="module")
def records(session_cache):
    with make_session(cache_dir=session_cache) as session:
        return {a: run_cell(a, track="synthetic-captions", session=session) for a in ["m4i-mb", "m4i-fb"]}


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["m4i-mb", "m4i-fb"])
def test_caption_membership_above_chance(records, attack):
    rec = records[attack]
    assert rec["status"] == "ok", rec["error"]
    assert rec["metrics"]["auc"] > 0.6


@pytest.mark.slow
def test_feature_based_matches_metric_based(records):
    assert records["m4i-fb"]["metrics"]["auc"] >= records["m4i-mb"]["metrics"]["auc"] - 0.02


def test_text_metrics_are_one_for_a_copied_caption_and_low_for_an_unrelated_one():
    from plugins.attacks.m4i import text_metrics

    m = text_metrics(["a red car on the street", "two dogs play in the snow", ""], ["a red car on the street"] * 3)
    assert m.shape == (3, 2)
    assert m[0] == pytest.approx([1.0, 1.0])
    assert (m[1] < 0.2).all() and (m[2] == 0.0).all()


class _Captioner:
    """A captioner whose caption of image i is fixed (``image`` holds the image indices)."""

    def __init__(self, captions):
        self.captions = list(captions)

    def generate_captions(self, image):
        return [self.captions[int(i)] for i in np.asarray(image)]


def test_metric_based_scores_caption_overlap_with_a_shadow_threshold(fake_context, fake_shadows):
    from bench import Candidates
    from plugins.attacks.m4i import M4IMetric

    refs = ["a red car on the street", "two dogs play in the snow", "a man rides a horse", "a boat on a lake"]
    pool = Candidates(image=np.arange(4), caption=refs)
    shadow = _Captioner([refs[0], refs[1], "a cat sleeps", "people walk"])  # reproduces its two members' captions
    target = _Captioner([refs[0], "a blue sky", "a man rides a horse", "trees"])
    ctx = fake_context(pool, target, fake_shadows([shadow], pool, [[True, True, False, False]]))
    scores = M4IMetric().score(ctx)
    assert scores[0] == pytest.approx(1.0) and scores[2] == pytest.approx(1.0) and scores[1] < 0.2 and scores[3] < 0.2
    assert 0.0 < ctx.threshold <= 1.0  # between the shadow's non-member and member overlaps
