import json

import pytest

from bench.leaderboard import by_defense, render, render_by_defense, summarize
from bench.testing import make_record


def _rec(attack, seed, tpr, auc, status="ok", track="t", defense="none", acc=0.8):
    return make_record(attack, defense, seed, track=track, status=status, utility={"test_accuracy": acc},
                       metrics={"auc": auc, "tpr@0.1%fpr": tpr, "tpr@1%fpr": 2 * tpr, "advantage": 0.1, "fpr_ood": 0.2,
                                "n_members": 100, "tpr@1%fpr_ci": [0.0, 0.1]})


def test_mean_std_over_seeds_sorted_by_low_fpr_tpr():
    recs = [_rec("weak", 0, 0.001, 0.6), _rec("weak", 1, 0.003, 0.62), _rec("strong", 0, 0.05, 0.7), _rec("strong", 1, 0.07, 0.7),
            _rec("strong", 2, 0, 0, status="failed")]
    rows = summarize(recs)
    assert [r["attack"] for r in rows] == ["strong", "weak"]
    assert rows[0]["seeds"] == 2 and rows[0]["tpr@0.1%fpr"] == pytest.approx(0.06)
    assert rows[0]["tpr@0.1%fpr_std"] == pytest.approx(0.01414, abs=1e-4)
    assert rows[0]["not_ok"] == "failed×1"
    assert rows[0]["fpr_ood"] == pytest.approx(0.2)  # task/scenario metrics become columns
    assert "n_members" not in rows[0] and "tpr@1%fpr_ci" not in rows[0]  # counts and intervals do not


def test_formats_take_titles_and_formats_from_the_registry():
    recs = [_rec("a", 0, 0.01, 0.6)]
    md = render(recs, "md")
    head = md.splitlines()[0]
    assert "TPR@0.1%FPR" in head and "AUC" in head and "bal. acc" in head and "fpr_ood" in head
    assert "1.00% ± 0.00" in md and "0.600 ± 0.000" in md and "20.00% ± 0.00" in md  # fpr_ood is a rate
    assert json.loads(render(recs, "json"))[0]["auc"] == 0.6
    assert render(recs, "html").startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="unknown leaderboard format 'xml'"):
        render(recs, "xml")


def test_by_defense_takes_the_strongest_attack_and_the_utility_cost():
    recs = [_rec("a", 0, 0.05, 0.9), _rec("b", 0, 0.10, 0.6), _rec("a", 0, 0.0, 0.7, defense="dp", acc=0.7),
            _rec("b", 0, 0.0, 0.55, defense="dp", acc=0.7)]
    view = {r["defense"]: r for r in by_defense(recs)}
    assert view["none"]["strongest_attack"] == "b"  # TPR@0.1%FPR first, though a has the higher AUC
    assert view["dp"]["strongest_attack"] == "a"  # a TPR tie: AUC decides
    assert view["dp"]["utility_cost"] == pytest.approx(0.1) and view["dp"]["attacks"] == 2
    csv = render_by_defense(recs, "csv").splitlines()
    assert csv[0] == "track,budget,defense,strongest_attack,attacks,auc,tpr@0.1%fpr,tpr@1%fpr,test_accuracy,utility_cost"
    with pytest.raises(ValueError, match="per-defense format 'html'"):
        render_by_defense(recs, "html")
