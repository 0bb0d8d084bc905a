"""Shared arithmetic of the diffusion membership attacks (numpy only; the target answers ``predict_noise``).

Notation (DDPM, Ho et al. 2020): ᾱ_t the cumulative noise schedule (``ctx.track.extra["alphas_cumprod"]``),
x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε, and ε_θ(x_t, t, c) the model's noise prediction for caption c.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["schedule", "fixed_noise", "denoising_losses", "ddim_step", "auc"]

NoiseFn = Callable[[np.ndarray, int, list], np.ndarray]


def schedule(ctx) -> np.ndarray:
    """ᾱ_t of the track's public noise schedule."""
    extra = ctx.track.extra
    if "alphas_cumprod" not in extra:
        raise ValueError(f"track {ctx.track.name!r} publishes no noise schedule (extra['alphas_cumprod']): not a diffusion track")
    return np.asarray(extra["alphas_cumprod"], dtype=np.float64)


def fixed_noise(seed: int, shape: tuple[int, ...], draws: int) -> np.ndarray:
    """(draws, *shape) standard normal noise fixed by ``seed``: every model is probed with the same ε."""
    return np.random.default_rng([int(seed), 0xD1FF]).standard_normal((draws, *shape))


def denoising_losses(predict_noise: NoiseFn, x0: np.ndarray, captions: list, timesteps: list[int], ac: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(n, len(timesteps)): ‖ε − ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t, c)‖² per pixel, averaged over the noise draws."""
    out = np.zeros((len(x0), len(timesteps)))
    for j, t in enumerate(timesteps):
        for eps in noise:
            x_t = np.sqrt(ac[t]) * x0 + np.sqrt(1.0 - ac[t]) * eps
            err = predict_noise(x_t, int(t), captions) - eps
            out[:, j] += (err**2).reshape(len(x0), -1).mean(1) / len(noise)
    return out


def ddim_step(predict_noise: NoiseFn, x: np.ndarray, t_from: int, t_to: int, captions: list, ac: np.ndarray) -> np.ndarray:
    """Deterministic DDIM (η = 0) move from t_from to t_to, either direction (SecMI's ``ddim_singlestep``):
    x̂₀ = (x − √(1−ᾱ_from) ε_θ(x, t_from)) / √ᾱ_from ;  x' = √ᾱ_to x̂₀ + √(1−ᾱ_to) ε_θ(x, t_from).
    t = 0 is the clean image (ᾱ₀ of the schedule)."""
    eps = predict_noise(x, int(t_from), captions)
    x0 = (x - np.sqrt(1.0 - ac[t_from]) * eps) / np.sqrt(ac[t_from])
    return np.sqrt(ac[t_to]) * x0 + np.sqrt(1.0 - ac[t_to]) * eps


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``scores`` for the boolean ``positive`` (Mann–Whitney), 0.5 when a class is empty."""
    from scipy.stats import rankdata

    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
