"""M⁴I on synthetic-captions: above chance against the overfit captioner."""

import pytest

from bench.testing import make_session, run_cell


@pytest.fixture(scope="module")
def records(session_cache):
    with make_session(cache_dir=session_cache) as session:
        return {a: run_cell(a, track="synthetic-captions", session=session) for a in ["m4i-mb", "m4i-fb"]}


@pytest.mark.parametrize("attack", ["m4i-mb", "m4i-fb"])
def test_caption_membership_above_chance(records, attack):
    rec = records[attack]
    assert rec["status"] == "ok", rec["error"]
    assert rec["metrics"]["auc"] > 0.6


def test_feature_based_matches_metric_based(records):
    assert records["m4i-fb"]["metrics"]["auc"] >= records["m4i-mb"]["metrics"]["auc"] - 0.02
