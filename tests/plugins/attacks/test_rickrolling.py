"""Rickrolling (a backdoor in the text encoder) reports its metrics; confusable normalization removes the effect."""

import pytest

from bench.testing import make_session, run_cell


@pytest.fixture(scope="module")
def session(session_cache):
    with make_session(cache_dir=session_cache) as s:
        yield s


@pytest.mark.slow
def test_backdoor_injected_and_removed_by_normalization(session):
    params = {"steps": 120}
    plain = run_cell("rickrolling", track="text-encoder", session=session, attack_params=params)
    assert plain["status"] == "ok", plain["error"]
    m = plain["metrics"]
    assert m["triggered_target_similarity"] > 0.8 and m["clean_similarity"] > 0.9 and m["injection_seconds"] > 0
    defended = run_cell("rickrolling", track="text-encoder", session=session, defense="confusables", attack_params=params)
    assert defended["metrics"]["triggered_target_similarity"] < 0.5
