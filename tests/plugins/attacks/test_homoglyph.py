"""Homoglyph (a non-Latin glyph biasing a text encoder) reports WEAT metrics; confusable normalization removes the effect."""

import pytest

from bench.testing import make_session, run_cell


@pytest.fixture(scope="module")
def session(session_cache):
    with make_session(cache_dir=session_cache) as s:
        yield s


@pytest.mark.slow
def test_homoglyph_metrics_and_normalization(session):
    plain = run_cell("homoglyph", track="text-encoder", session=session, attack_params={"n_permutations": 200})
    assert plain["status"] == "ok", plain["error"]
    assert {"weat_effect_size", "weat_p_value", "embedding_shift"} <= set(plain["metrics"])
    m = plain["metrics"]
    assert m["embedding_shift"] > 0.01  # the glyph moves the embedding ...
    assert m["weat_effect_size"] > 0.5 and m["weat_p_value"] < 0.05  # ... toward culture B's images, significantly
    defended = run_cell("homoglyph", track="text-encoder", session=session, defense="confusables", attack_params={"n_permutations": 200})
    assert abs(defended["metrics"]["embedding_shift"]) < 1e-6 and abs(defended["metrics"]["weat_effect_size"]) < 1e-6
    assert defended["metrics"]["weat_p_value"] > 0.05


def test_confusable_skeleton_keeps_ascii():
    from plugins.defenses.confusables import normalize

    assert normalize("a phоtо of rn") == "a photo of rn"  # Cyrillic о → o; ASCII 'rn' untouched


def test_inject_replaces_the_first_latin_letter_or_prefixes_the_glyph():
    from plugins.attacks.homoglyph import inject

    assert inject("a photo of an actor", "o", "ο") == "a phοto of an actor"
    assert inject("sky", "o", "ο") == "οsky"


def test_weat_effect_and_p_value_follow_the_association():
    import numpy as np

    from plugins.attacks.homoglyph import weat

    a, b = np.eye(4)[[0]], np.eye(4)[[1]]
    x = np.tile(np.eye(4)[0], (6, 1)) + np.random.default_rng(0).normal(0, 0.05, (6, 4))  # close to a
    y = np.tile(np.eye(4)[1], (6, 1)) + np.random.default_rng(1).normal(0, 0.05, (6, 4))  # close to b
    effect, p = weat(x, y, a, b, 200, np.random.default_rng(2))
    assert effect > 1.5 and p < 0.01
    effect_swapped, p_swapped = weat(y, x, a, b, 200, np.random.default_rng(2))
    assert effect_swapped < -1.5 and p_swapped > 0.9
