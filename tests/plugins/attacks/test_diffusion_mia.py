"""The diffusion membership attacks' arithmetic against noise predictors whose answers are known."""

import numpy as np
import pytest

from plugins.attacks._diffusion import auc, ddim_step, denoising_losses, fixed_noise
from plugins.attacks.pia import pia_distance
from plugins.attacks.secmi import t_error

AC = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))


def oracle_for(x0_of_row):
    """A perfect denoiser for a fixed set of images: ε = (x_t − √ᾱ_t x₀) / √(1−ᾱ_t) with x₀ known per row."""
    def predict(x_t, t, captions):
        t = int(t)
        if t == 0:
            return np.zeros_like(x_t)
        return (x_t - np.sqrt(AC[t]) * x0_of_row) / np.sqrt(1 - AC[t])
    return predict


def test_ddim_round_trip_of_a_perfect_denoiser_is_exact():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (5, 1, 4, 4))
    predict = oracle_for(x0)
    x_t = np.sqrt(AC[100]) * x0 + np.sqrt(1 - AC[100]) * rng.standard_normal(x0.shape)
    there = ddim_step(predict, x_t, 100, 110, [""] * 5, AC)
    back = ddim_step(predict, there, 110, 100, [""] * 5, AC)
    np.testing.assert_allclose(back, x_t, atol=1e-9)


def test_t_error_is_zero_for_consistent_predictions_only():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (40, 1, 4, 4))
    fitted = oracle_for(x)

    def predict(x_t, t, captions):  # rows 20+: the model's idea of x₀ drifts with t (an unfitted image)
        eps = fitted(x_t, t, captions)
        eps[20:] += 0.01 * int(t) * x[20:]
        return eps

    err = t_error(predict, x, [""] * 40, AC, 100, 10)
    assert err[:20].max() < 1e-12 < err[20:].min()
    with pytest.raises(ValueError, match="multiple"):
        t_error(predict, x, [""] * 40, AC, 95, 10)


def test_denoising_loss_and_pia_are_zero_for_remembered_images_only():
    rng = np.random.default_rng(2)
    members = rng.uniform(-1, 1, (10, 1, 4, 4))
    others = rng.uniform(-1, 1, (10, 1, 4, 4))
    x = np.concatenate([members, others])
    predict = oracle_for(np.concatenate([members, members]))
    noise = fixed_noise(0, x.shape, 2)
    loss = denoising_losses(predict, x, [""] * 20, [10, 100], AC, noise)
    assert loss.shape == (20, 2) and loss[:10].max() < 1e-12 < loss[10:].min()
    assert auc(-loss[:, 1], np.r_[np.ones(10), np.zeros(10)].astype(bool)) == 1.0
    d = pia_distance(predict, x, [""] * 20, AC, 200)
    assert d[:10].max() < 1e-12 < d[10:].min()


def test_fixed_noise_is_the_same_for_every_model_and_differs_per_seed():
    a, b, c = fixed_noise(3, (4, 1, 2, 2), 2), fixed_noise(3, (4, 1, 2, 2), 2), fixed_noise(4, (4, 1, 2, 2), 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.fixture(scope="module")
def t2i_session():
    from bench.testing import make_session

    return make_session()


@pytest.mark.slow
def test_denoising_loss_detects_members_of_the_trained_text_to_image_model(t2i_session):
    """Smoke tier (no shadows): the raw ε-loss at t = 100. Members' loss is lower: one-sided Mann–Whitney p < 0.05."""
    from scipy.stats import mannwhitneyu

    from bench.testing import make_context

    ctx, is_member = make_context("denoising-loss", track="text-to-image", session=t2i_session)
    scores = t2i_session.registry.attack("denoising-loss").score(ctx)
    assert scores.shape == (len(is_member),) and np.isfinite(scores).all()
    assert mannwhitneyu(scores[is_member], scores[~is_member], alternative="greater").pvalue < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["secmi", "pia"])
def test_secmi_and_pia_run_through_the_harness(t2i_session, attack):
    from bench.testing import run_cell

    record = run_cell(attack, "text-to-image", session=t2i_session)
    assert record["status"] == "ok", record["error"]
    assert 0.0 <= record["metrics"]["auc"] <= 1.0 and record["budget"]["used"]["queries"] > 0
