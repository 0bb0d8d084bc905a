"""privbench's RMIA scoring against the official code's outputs (ml_privacy_meter) on the shared fixture."""

import numpy as np
import pytest

from bench.metrics import auc
from plugins.attacks.rmia import rmia_scores


def _reference_models(t, n, n_models):
    """The reference's choice: drop the target and its pair, take the next 2n models in index order."""
    pair = t + 1 if t % 2 == 0 else t - 1
    return [i for i in range(n_models) if i not in (t, pair)][: 2 * n]


def _estimates(data, t, n, reference_z):
    sig, mem, pop = data["signals"], data["memberships"], data["population_signals"]
    cols = _reference_models(t, n, sig.shape[1])
    out = ~mem[:, cols]
    out_x = (sig[:, cols] * out).sum(axis=1) / out.sum(axis=1)
    # The reference estimates Pr(z) from the n largest of the 2n (all OUT) reference values; privbench uses all.
    out_z = -np.sort(-pop[:, cols], axis=1)[:, :n].mean(axis=1) if reference_z else pop[:, cols].mean(axis=1)
    return sig[:, [t]], pop[:, [t]], out_x[:, None], out_z[:, None]


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("a", [0.0, 0.3, 1.0])
def test_rmia_scoring_reproduces_the_reference_scores_up_to_ties(rmia_fixture, n, a):
    """Given the reference's own Pr(x), Pr(z) estimates, every score is the reference's count of z beaten."""
    data, _ = rmia_fixture
    n_z = len(data["population_signals"])
    for t in range(4):
        ours = rmia_scores(*_estimates(data, t, n, reference_z=True), a=a)
        # The tie-break moves a score by less than half a z-step: rounding recovers the count exactly.
        assert np.array_equal(np.round(ours * n_z), np.round(data[f"rmia_ref{n}_a{a}_target{t}"] * n_z)), f"target {t}"


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("a", [0.0, 0.3, 1.0])
def test_rmia_pooled_auc_matches_the_reference(rmia_fixture, n, a):
    """With privbench's own Pr(z) (mean over every OUT reference), the pooled AUC is the reference's within 0.005."""
    data, metrics = rmia_fixture
    scores = [rmia_scores(*_estimates(data, t, n, reference_z=False), a=a) for t in range(4)]
    truth = [data["memberships"][:, t] for t in range(4)]
    pooled = auc(np.concatenate(scores), np.concatenate(truth))
    assert abs(pooled - metrics["pooled_metrics"][f"rmia_ref{n}_a{a}"]["auc"]) <= 0.005
