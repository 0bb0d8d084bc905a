import json

import pytest

from bench.leaderboard import render, summarize


def _rec(attack, seed, tpr, auc, status="ok", track="t"):
    return {"track": {"name": track}, "budget": {"tier": "cpu"}, "defense": {"name": "none"}, "attack": {"name": attack},
            "seed": seed, "status": status, "utility": {"test_accuracy": 0.8},
            "metrics": {"auc": auc, "tpr@0.1%fpr": tpr, "tpr@1%fpr": 2 * tpr, "advantage": 0.1, "fpr_ood": 0.2} if status == "ok" else {}}


def test_mean_std_over_seeds_sorted_by_low_fpr_tpr():
    recs = [_rec("weak", 0, 0.001, 0.6), _rec("weak", 1, 0.003, 0.62), _rec("strong", 0, 0.05, 0.7), _rec("strong", 1, 0.07, 0.7),
            _rec("strong", 2, 0, 0, status="failed")]
    rows = summarize(recs)
    assert [r["attack"] for r in rows] == ["strong", "weak"]
    assert rows[0]["seeds"] == 2 and rows[0]["tpr@0.1%fpr"] == pytest.approx(0.06)
    assert rows[0]["tpr@0.1%fpr_std"] == pytest.approx(0.01414, abs=1e-4)
    assert rows[0]["not_ok"] == "failed×1"
    assert rows[0]["fpr_ood"] == pytest.approx(0.2)  # task/scenario metrics become columns


def test_formats():
    recs = [_rec("a", 0, 0.01, 0.6)]
    md = render(recs, "md")
    assert "| TPR@0.1%FPR" in md.replace("   ", " ") or "TPR@0.1%FPR" in md.splitlines()[0]
    assert "1.00% ± 0.00" in md and "fpr_ood" in md
    assert json.loads(render(recs, "json"))[0]["auc"] == 0.6
    with pytest.raises(ValueError, match="unknown leaderboard format 'xml'"):
        render(recs, "xml")
