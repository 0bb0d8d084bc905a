"""M⁴I and CLIP-similarity on synthetic-captions: above chance against the overfit targets."""

import pytest

from bench.testing import make_session, run_cell


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_session(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("attack", ["m4i-mb", "m4i-fb", "clip-similarity"])
def test_caption_membership_above_chance(session, attack):
    rec = run_cell(attack, track="synthetic-captions", session=session)
    assert rec["status"] == "ok", rec["error"]
    assert rec["metrics"]["auc"] > 0.6
