"""Tests for bench.metrics."""

import doctest
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import bench.metrics as M
from bench.metrics import (
    METRICS,
    advantage,
    auc,
    auc_bootstrap_ci,
    balanced_accuracy_at,
    clopper_pearson,
    fpr_at_threshold,
    membership_metrics,
    roc,
    tpr_at_fpr,
    youden_threshold,
)


def _gauss(n, mu=2.0, seed=0):
    rng = np.random.default_rng(seed)
    s = np.concatenate([rng.normal(mu, 1.0, n), rng.normal(0.0, 1.0, n)])
    y = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    return s, y


# --------------------------------------------------------------------------- conformance
def test_conformance_gaussian_million():
    # analytic: TPR@0.1%FPR = 1 - Phi(Phi^-1(0.999) - 2) = 0.1378; AUC = Phi(2/sqrt 2) = 0.9214
    s, y = _gauss(10**6, seed=12345)
    t0 = time.perf_counter()
    m = membership_metrics(s, y, n_boot=0)
    assert time.perf_counter() - t0 < 10
    assert m["tpr@0.1%fpr"] == pytest.approx(0.1378, abs=0.003)
    assert m["auc"] == pytest.approx(0.9214, abs=0.002)
    assert m["auc_ci"] is None
    lo, hi = m["tpr@0.1%fpr_ci"]
    assert lo <= m["tpr@0.1%fpr"] <= hi and hi - lo < 0.01
    assert m["n_members"] == m["n_nonmembers"] == 10**6
    assert m["balanced_accuracy"] is None


def test_membership_metrics_types_and_keys():
    s, y = _gauss(500, seed=1)
    m = membership_metrics(s, y, threshold=1.0, n_boot=50)
    expected = {"auc", "auc_ci", "tpr@0.1%fpr", "tpr@0.1%fpr_ci", "tpr@1%fpr",
                "tpr@1%fpr_ci", "advantage", "balanced_accuracy", "n_members", "n_nonmembers"}
    assert set(m) == expected
    for k in ("auc", "tpr@0.1%fpr", "tpr@1%fpr", "advantage", "balanced_accuracy"):
        assert type(m[k]) is float, k
    for k in ("auc_ci", "tpr@0.1%fpr_ci", "tpr@1%fpr_ci"):
        assert isinstance(m[k], list) and len(m[k]) == 2
        assert all(type(v) is float for v in m[k])
        assert m[k][0] <= m[k.removesuffix("_ci")] <= m[k][1]
    assert type(m["n_members"]) is int and m["n_members"] == 500
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_at(s, y, 1.0))


def test_metrics_registry_covers_what_membership_metrics_reports():
    s, y = _gauss(100)
    m = membership_metrics(s, y, threshold=0.0, n_boot=0)
    for name, spec in METRICS.items():
        assert name in m and spec.name == name
        assert spec.higher_is_better is True
        assert spec.description and "\n" not in spec.description
        if spec.ci_key is not None:
            assert spec.ci_key in m
    reported = {k for k in m if not k.endswith("_ci")}
    assert reported == set(METRICS), "every reported metric is declared, and nothing else"


def test_metric_specs_format_and_classify():
    from bench.metrics import HEADLINE, RANKING, is_metric_column, metric_spec

    assert metric_spec("tpr@0.1%fpr").format(0.0123, [0.01, 0.02]) == "1.23% [1.00, 2.00]"
    assert metric_spec("auc").format(0.75, std=0.01) == "0.750 ± 0.010" and metric_spec("auc").format(None) == "—"
    ood = metric_spec("fpr_ood")  # a scenario metric, by convention: a rate where lower is better
    assert ood.kind == "rate" and ood.higher_is_better is False and ood.ci_key == "fpr_ood_ci"
    assert metric_spec("rougeL").kind == "score" and metric_spec("rougeL").title == "rougeL"
    assert is_metric_column("auc", 0.5) and not is_metric_column("auc_ci", [0, 1]) and not is_metric_column("n_members", 5)
    assert not is_metric_column("flag", True)
    assert set(RANKING) <= set(HEADLINE) <= set(METRICS)


def test_doctests():
    res = doctest.testmod(M, raise_on_error=False)
    assert res.attempted > 0 and res.failed == 0


# --------------------------------------------------------------------------- extremes
def test_perfect_reversed_random():
    y = np.array([1] * 50 + [0] * 50, bool)
    s = np.r_[np.arange(50) + 100.0, np.arange(50)]
    m = membership_metrics(s, y, n_boot=20)
    assert m["auc"] == 1.0 and m["tpr@0.1%fpr"] == 1.0 and m["tpr@1%fpr"] == 1.0
    assert m["advantage"] == 1.0
    assert m["auc_ci"] == [1.0, 1.0]

    mr = membership_metrics(-s, y, n_boot=0)
    assert mr["auc"] == 0.0 and mr["tpr@0.1%fpr"] == 0.0 and mr["advantage"] == 0.0

    rng = np.random.default_rng(3)
    mrand = membership_metrics(rng.normal(size=20000), np.arange(20000) % 2 == 0, n_boot=0)
    assert mrand["auc"] == pytest.approx(0.5, abs=0.015)


# --------------------------------------------------------------------------- tpr@fpr
def test_tpr_at_fpr_hand_example():
    # non-members: 0.9, 0.5, 0.1, 0.0 ; members: 0.8, 0.7, 0.6, 0.2
    # descending: 0.9(n) 0.8(m) 0.7(m) 0.6(m) 0.5(n) 0.2(m) 0.1(n) 0.0(n)
    # ROC points (fpr, tpr): (0,0) (.25,0) (.25,.25) (.25,.5) (.25,.75) (.5,.75) (.5,1) (.75,1) (1,1)
    s = [0.9, 0.5, 0.1, 0.0, 0.8, 0.7, 0.6, 0.2]
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    fpr, tpr, thr = roc(s, y)
    assert tpr_at_fpr(fpr, tpr, 0.0) == 0.0
    assert tpr_at_fpr(fpr, tpr, 0.2) == 0.0
    assert tpr_at_fpr(fpr, tpr, 0.25) == 0.75  # largest TPR at FPR .25, not first (0.0)
    assert tpr_at_fpr(fpr, tpr, 0.49) == 0.75
    assert tpr_at_fpr(fpr, tpr, 0.5) == 1.0
    assert tpr_at_fpr(np.array([0.5, 1.0]), np.array([0.6, 1.0]), 0.1) == 0.0  # no point
    assert advantage(fpr, tpr) == pytest.approx(0.5)  # 0.75-0.25 = 1-0.5 = 0.5
    # drop_intermediate=False keeps every distinct threshold (+ the initial inf point)
    assert len(fpr) == 9


# --------------------------------------------------------------------------- Clopper-Pearson
def test_clopper_pearson_known_values():
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.3085, abs=1e-4)
    lo, hi = clopper_pearson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.3085, abs=1e-4)
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.1871, abs=1e-3) and hi == pytest.approx(0.8129, abs=1e-3)
    # k=1, n=100: known (0.000253, 0.054460)
    lo, hi = clopper_pearson(1, 100)
    assert lo == pytest.approx(0.000253, abs=2e-6) and hi == pytest.approx(0.05446, abs=1e-4)
    for k, n in [(0, 1), (3, 7), (50, 1000), (999, 1000)]:
        lo, hi = clopper_pearson(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
    # wider at higher confidence
    assert np.subtract(*clopper_pearson(5, 10, alpha=0.01)[::-1]) > 0.813 - 0.187


def test_clopper_pearson_bad_input():
    with pytest.raises(ValueError):
        clopper_pearson(11, 10)
    with pytest.raises(ValueError):
        clopper_pearson(0, 0)
    with pytest.raises(ValueError, match="alpha"):
        clopper_pearson(1, 10, alpha=1.5)


# --------------------------------------------------------------------------- AUC + bootstrap
def test_rank_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 3000).astype(bool)
    s = np.round(rng.normal(size=3000) + 0.7 * y, 1)  # heavy ties
    assert len(np.unique(s)) < 200
    assert auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # all tied -> 0.5 exactly
    assert auc(np.ones(10), np.arange(10) % 2) == 0.5


@pytest.mark.slow
def test_bootstrap_matches_naive_resampling_distribution():
    # vectorised replicate AUCs agree with a naive loop: compare CI to naive percentile CI
    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=400) + np.r_[np.ones(200), np.zeros(200)], 1)
    y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    lo, hi = auc_bootstrap_ci(s, y, n_boot=2000, seed=1)
    r = np.random.default_rng(2)
    pos, neg = s[y], s[~y]
    naive = [roc_auc_score(np.r_[np.ones(200), np.zeros(200)],
                           np.r_[r.choice(pos, 200), r.choice(neg, 200)]) for _ in range(2000)]
    nlo, nhi = np.quantile(naive, [0.025, 0.975])
    assert lo == pytest.approx(nlo, abs=0.01) and hi == pytest.approx(nhi, abs=0.01)


def test_bootstrap_ci_properties():
    s, y = _gauss(200, mu=1.0, seed=4)
    a = auc(s, y)
    ci_small = auc_bootstrap_ci(s, y, seed=0)
    assert ci_small[0] < a < ci_small[1]
    assert auc_bootstrap_ci(s, y, seed=0) == ci_small  # deterministic
    assert auc_bootstrap_ci(s, y, seed=1) != ci_small
    s2, y2 = _gauss(5000, mu=1.0, seed=5)
    ci_big = auc_bootstrap_ci(s2, y2, seed=0)
    assert ci_big[0] < auc(s2, y2) < ci_big[1]
    assert (ci_big[1] - ci_big[0]) < 0.5 * (ci_small[1] - ci_small[0])


def test_bootstrap_fast():
    s, y = _gauss(5000, seed=6)  # 10,000 points
    auc_bootstrap_ci(s, y, n_boot=5)  # warm lazy imports
    t0 = time.perf_counter()
    auc_bootstrap_ci(s, y, n_boot=200)
    assert time.perf_counter() - t0 < 1.0


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "scores, labels, pattern",
    [
        ([0.1, np.nan, 0.3, 0.4], [0, 1, 0, 1], "non-finite"),
        ([0.1, np.inf, 0.3, 0.4], [0, 1, 0, 1], "non-finite"),
        ([0.1, 0.2, 0.3], [0, 1], "length mismatch"),
        ([0.1, 0.2, 0.3], [1, 1, 1], "both classes"),
        ([0.1, 0.2, 0.3], [0, 0, 0], "both classes"),
        ([[0.1, 0.2], [0.3, 0.4]], [0, 1], "1-D"),
        ([0.1, 0.2, 0.3], [0, 1, 2], "0/1"),
    ],
)
@pytest.mark.parametrize("fn", [roc, auc, auc_bootstrap_ci, membership_metrics, youden_threshold])
def test_bad_input(fn, scores, labels, pattern):
    with pytest.raises(ValueError, match=pattern):
        fn(scores, labels)


def test_fpr_at_threshold():
    s = np.array([0.1, 0.5, 0.5, 0.9])
    assert fpr_at_threshold(s, 0.5) == 0.75
    assert fpr_at_threshold(s, 0.95) == 0.0
    assert fpr_at_threshold(s, -1) == 1.0
    lo, hi = clopper_pearson(int(np.count_nonzero(s >= 0.5)), len(s))
    assert lo < 0.75 < hi
    with pytest.raises(ValueError, match="non-finite"):
        fpr_at_threshold([0.1, np.nan], 0.5)
    with pytest.raises(ValueError, match="empty"):
        fpr_at_threshold([], 0.5)


# --------------------------------------------------------------------------- threshold metrics
def test_balanced_accuracy_youden_advantage_hand():
    # members: 0.4 0.6 0.8 0.9 ; non-members: 0.1 0.2 0.5 0.7
    s = [0.4, 0.6, 0.8, 0.9, 0.1, 0.2, 0.5, 0.7]
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    # t=0.6: TPR 3/4, FPR 1/4 (0.7) -> TNR 3/4 -> BA 0.75
    assert balanced_accuracy_at(s, y, 0.6) == pytest.approx(0.75)
    # t=0.8: TPR 2/4, TNR 4/4 -> 0.75 ; t=0.3: TPR 1, TNR 2/4 -> 0.75 ; t=0.5 (>=): TPR 3/4, TNR 2/4
    assert balanced_accuracy_at(s, y, 0.8) == pytest.approx(0.75)
    assert balanced_accuracy_at(s, y, 0.5) == pytest.approx(0.625)
    assert balanced_accuracy_at(s, y, 2.0) == pytest.approx(0.5)
    # J = TPR - FPR: t=.9:.25 t=.8:.5 t=.7:.25 t=.6:.5 t=.5:.25 t=.4:.5 t=.2:.25 t=.1:0
    fpr, tpr, _ = roc(s, y)
    assert advantage(fpr, tpr) == pytest.approx(0.5)
    t = youden_threshold(s, y)
    assert t == 0.8  # ties broken towards the highest threshold
    assert balanced_accuracy_at(s, y, t) == pytest.approx(0.5 + advantage(fpr, tpr) / 2)

    # unique optimum
    s2 = [0.3, 0.6, 0.7, 0.1, 0.2, 0.65]
    y2 = [1, 1, 1, 0, 0, 0]
    # t=.6 -> TPR 2/3, FPR 1/3 (J .33); t=.3 -> TPR 1, FPR 1/3 (J .67); t=.7 -> 1/3, 0
    assert youden_threshold(s2, y2) == 0.3
    assert np.isfinite(youden_threshold([0.0, 1.0], [1, 0]))  # reversed -> still finite
