import numpy as np
import pytest

from bench._evaluation import TargetRun, evaluate_targets, leave_one_out_thresholds


def _runs(n_targets=8, n=2000, shift=1.0, seed=0, scale=None):
    rng = np.random.default_rng(seed)
    runs = []
    for t in range(n_targets):
        truth = rng.random(n) < 0.5
        s = rng.normal(size=n) + shift * truth
        if scale is not None:
            s = s * scale[t]
        runs.append(TargetRun(t, s, truth, {"neighbours": rng.normal(size=300) + 0.5 * shift, "ood": rng.normal(size=300) - 1}))
    return runs


def test_calibrated_thresholds_realise_their_nominal_fpr_on_unseen_targets():
    ev = evaluate_targets(_runs(), n_boot=0)
    for point in ev.operating_points:
        assert point.nominal_fpr * 0.6 < point.fpr < point.nominal_fpr * 1.4
        assert point.fpr_ci[0] <= point.fpr <= point.fpr_ci[1]
        # Neighbours look more like members than ordinary non-members; OOD less.
        assert point.scenario_fpr["neighbours"] > point.fpr > point.scenario_fpr["ood"]
    assert 0.74 < ev.pooled["auc"] < 0.78  # Φ(1/√2) = 0.760
    assert len(ev.per_target) == 8 and all(0.7 < p["auc"] < 0.82 for p in ev.per_target)


def test_a_target_is_never_calibrated_on_its_own_scores():
    runs = _runs(n_targets=3)
    before = leave_one_out_thresholds(runs)
    runs[0] = TargetRun(0, runs[0].scores + 100.0, runs[0].is_member)  # only target 0's own scores move
    after = leave_one_out_thresholds(runs)
    assert np.array_equal(before[0], after[0])
    assert (after[1:] > before[1:]).all()


def test_epsilon_audit_is_zero_for_a_coin_flip_and_positive_for_a_leaky_attack():
    assert evaluate_targets(_runs(shift=0.0), n_boot=0).epsilon.epsilon < 0.15
    leaky = evaluate_targets(_runs(shift=3.0), n_boot=0).epsilon
    assert leaky.epsilon > 1.5 and leaky.threshold in (0.01, 0.05)


def test_one_target_gives_pooled_metrics_without_operating_points():
    ev = evaluate_targets(_runs(n_targets=1), n_boot=0)
    assert ev.operating_points == [] and ev.epsilon.epsilon == 0.0
    with pytest.raises(ValueError, match="at least 2 targets"):
        leave_one_out_thresholds(_runs(n_targets=1))
