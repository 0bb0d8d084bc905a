"""Homoglyph and Rickrolling effects on generated images of the in-suite text-to-image model, with and without confusables."""

import pytest

from bench.testing import make_session, run_cell

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session():
    return make_session()


def metrics(session, attack, defense):
    record = run_cell(attack, "text-to-image-integrity", defense=defense, session=session)
    assert record["status"] == "ok", record["error"]
    return record["metrics"]


def test_homoglyph_moves_generations_toward_the_scripts_culture(session):
    m = metrics(session, "homoglyph-t2i", "none")
    assert m["culture_share_homoglyph"] > m["culture_share_clean"]
    assert m["mcnemar_p_value"] < 0.01, m


def test_confusables_removes_the_homoglyph_effect(session):
    m = metrics(session, "homoglyph-t2i", "confusables")
    assert m["mcnemar_p_value"] > 0.05, m
    assert abs(m["culture_share_increase"]) < 0.05


def test_backdoor_generates_the_target_class_and_keeps_clean_prompts(session):
    m = metrics(session, "rickrolling-t2i", "none")
    assert m["triggered_target_rate"] > m["triggered_target_rate_before"] + 0.3, m
    assert abs(m["clean_accuracy_drop"]) <= 0.05, m
    d = metrics(session, "rickrolling-t2i", "confusables")
    assert d["triggered_target_rate"] < m["triggered_target_rate"] - 0.3, d
