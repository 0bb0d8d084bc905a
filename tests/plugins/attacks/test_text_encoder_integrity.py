"""Homoglyph and backdoor attacks report their metrics; confusable normalization removes both effects."""

import pytest

from bench.testing import make_session, run_cell


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_session(cache_dir=tmp_path_factory.mktemp("cache"))


def test_backdoor_injected_and_removed_by_normalization(session):
    params = {"steps": 120}
    plain = run_cell("rickrolling", track="text-encoder", session=session, attack_params=params)
    assert plain["status"] == "ok", plain["error"]
    m = plain["metrics"]
    assert m["triggered_target_similarity"] > 0.8 and m["clean_similarity"] > 0.9 and m["injection_seconds"] > 0
    defended = run_cell("rickrolling", track="text-encoder", session=session, defense="confusables", attack_params=params)
    assert defended["metrics"]["triggered_target_similarity"] < 0.5


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
