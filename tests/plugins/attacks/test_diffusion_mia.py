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


# -- cross-checks against maintained/official implementations -----------------------------------------------------
# A deterministic noise predictor that depends non-linearly on x_t and t (a perfect denoiser would hide
# indexing errors: its round trips are exact whatever the timesteps).
_W = np.random.default_rng(7).normal(0, 0.3, (16, 16))


def nonlinear_eps(x_t, t, captions=None):
    flat = np.asarray(x_t).reshape(len(x_t), -1)
    return np.tanh(flat @ _W + 0.002 * int(t) + 0.1 * flat).reshape(np.shape(x_t))


def official_secmi_distances(eps, x0, ac, interval, attack_num):
    """SecMI as the PIA repository implements it (``DDPM/components.py``, ``SecMIAttacker``: DDIM in its
    y = x/√ᾱ, p = √(1/ᾱ − 1) form): entry i is the t-error at t = i·interval."""
    p = lambda s: np.sqrt(1.0 / ac[s] - 1.0)
    inter, x = [x0], x0
    for step in range(0, interval * attack_num, interval):
        y_next = eps(x, step) * (p(step + interval) - p(step)) + x / np.sqrt(ac[step])
        x = y_next * np.sqrt(ac[step + interval])
        inter.append(x)
    out = []
    for i, step in enumerate(range(interval, interval * attack_num + interval, interval)):
        y_prev = eps(inter[i + 1], step) * (p(step - interval) - p(step)) + inter[i + 1] / np.sqrt(ac[step])
        out.append(((inter[i] - y_prev * np.sqrt(ac[step - interval])) ** 2).reshape(len(x0), -1).sum(1))
    return out


def test_ddim_step_matches_diffusers_ddim_scheduler_and_the_track_schedule_is_the_samplers():
    """The attacks' ᾱ_t (the track's published schedule) is the one the model samples with, and our DDIM
    denoising step is diffusers' ``DDIMScheduler.step`` (η = 0, no clipping) from t to t − 10."""
    import torch
    from diffusers import DDIMScheduler

    from plugins.tracks._t2i_models import BETA_END, BETA_START, linear_alphas_cumprod

    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=BETA_START, beta_end=BETA_END, beta_schedule="linear",
                          clip_sample=False, set_alpha_to_one=False)
    ac = linear_alphas_cumprod()
    np.testing.assert_allclose(sched.alphas_cumprod.double().numpy(), ac, rtol=1e-5)
    np.testing.assert_allclose(ac, AC, rtol=1e-12)
    sched.set_timesteps(100)  # step ratio 10: step(t) lands on t − 10
    x = np.random.default_rng(3).normal(0, 1, (4, 1, 4, 4))
    for t in (10, 110, 500):
        ours = ddim_step(nonlinear_eps, x, t, t - 10, [""] * 4, ac)
        eps = torch.as_tensor(nonlinear_eps(x, t))
        theirs = sched.step(eps, t, torch.as_tensor(x), eta=0.0).prev_sample.double().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_t_error_equals_the_official_secmi_recursion_at_t_sec():
    """Our t-error at t_SEC is the official recursion's entry at t_SEC (out to t_SEC + k and back); the
    authors' ``secmia.py`` (``get_intermediate_results``) stops its inversion one interval earlier, so its
    "t_sec=100" is our t_sec=90."""
    x0 = np.random.default_rng(4).uniform(-1, 1, (6, 1, 4, 4))
    official = official_secmi_distances(nonlinear_eps, x0, AC, 10, 12)
    for t_sec in (10, 90, 100):
        ours = t_error(nonlinear_eps, x0, [""] * 6, AC, t_sec, 10)
        np.testing.assert_allclose(ours, official[t_sec // 10], rtol=1e-10)
    assert not np.allclose(official[10], official[9])  # the predictor is not trivially consistent


def test_pia_equals_the_official_pia_and_pian_formulas():
    """``DDPM/components.py`` (PIA / PIAN): ε₀ = ε_θ(x₀, 0); ε_back = ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε₀, t); Σ|ε₀ − ε_back|⁴."""
    x0 = np.random.default_rng(5).uniform(-1, 1, (6, 1, 4, 4))
    for normalized in (False, True):
        eps0 = nonlinear_eps(x0, 0)
        if normalized:
            eps0 = eps0 / np.abs(eps0).mean(axis=(1, 2, 3), keepdims=True) * (2 / np.pi) ** 0.5
        back = nonlinear_eps(AC[200] ** 0.5 * x0 + (1 - AC[200]) ** 0.5 * eps0, 200)
        expected = (np.abs(eps0 - back) ** 4).reshape(6, -1).sum(1)
        np.testing.assert_allclose(pia_distance(nonlinear_eps, x0, [""] * 6, AC, 200, 4, normalized), expected, rtol=1e-10)
