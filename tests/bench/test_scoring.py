"""What the harness accepts back from an attack: an integrity attack cannot report the harness's own metrics."""

import pytest

from bench._scoring import check_metrics


@pytest.mark.parametrize("key", ["auc", "auc_ci", "tpr@0.1%fpr", "tpr@1%fpr", "fpr_nonmembers", "balanced_accuracy", "advantage", "test_accuracy"])
def test_an_integrity_attack_cannot_claim_a_harness_metric(key):
    with pytest.raises(ValueError, match=f"'{key}'.*only the harness computes"):
        check_metrics("forger", {"mcnemar_p_value": 0.2, key: 1.0})


def test_an_integrity_attack_reports_its_own_metrics():
    assert check_metrics("honest", {"mcnemar_p_value": 0.2, "culture_share_increase": 0.1}) == {"mcnemar_p_value": 0.2, "culture_share_increase": 0.1}
    with pytest.raises(ValueError, match="non-finite"):
        check_metrics("honest", {"eat_p_value": float("nan")})
