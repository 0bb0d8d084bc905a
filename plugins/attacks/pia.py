"""``pia``: Proximal Initialization Attack (Kong et al., "An Efficient Membership Inference Attack for the
Diffusion Model by Proximal Initialization", ICLR 2024).

Threat model: the model's noise predictions ε_θ(x_t, t, c) (``predict_noise``, SCORES — white-box-ish).
Instead of random noise, PIA uses the model's own output at t = 0 as the noise of the forward process (the
"proximal initialization"): for a member the model's prediction at t is then nearly that same ε.

    ε₀   = ε_θ(x₀, 0, c)
    x_t  = √ᾱ_t x₀ + √(1−ᾱ_t) ε₀                                        Eq. 10 (DDIM, deterministic)
    R_t  = ‖ε_θ(x_t, t, c) − ε₀‖_p^p   (p = 4 in the official code, ``DDPM/components.py``, class ``PIA``)

Score: −R_t at ``t`` (the paper attacks DDPM at t = 200 of T = 1000). ``normalized`` is PIAN: ε₀ rescaled
to the mean absolute value of a standard normal (√(2/π)) before use. Two noise predictions per candidate.
On the in-suite text-to-image model ε_θ(x₀, 0) is far below unit scale (smallest for members) and PIA is inverted,
while PIAN separates in the paper's direction (README, "Measured").
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl

from ._diffusion import schedule


def pia_distance(predict_noise, x0, captions, ac, t, lp=4, normalized=False):
    eps0 = predict_noise(x0, 0, captions)
    if normalized:
        eps0 = eps0 / np.abs(eps0).reshape(len(x0), -1).mean(1).reshape(-1, *([1] * (eps0.ndim - 1))) * np.sqrt(2 / np.pi)
    x_t = np.sqrt(ac[t]) * x0 + np.sqrt(1.0 - ac[t]) * eps0
    return (np.abs(predict_noise(x_t, int(t), captions) - eps0) ** lp).reshape(len(x0), -1).sum(1)


class PIA(Attack):
    name = "pia"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.GENERATION,)
    params = {"t": 200, "lp": 4, "normalized": False}

    def score(self, ctx):
        c = ctx.candidates
        d = pia_distance(ctx.target.predict_noise, c.image.astype(np.float64), list(c.caption), schedule(ctx), int(self.params["t"]),
                         float(self.params["lp"]), bool(self.params["normalized"]))
        return -d


@hookimpl
def register_attacks(register):
    register(PIA)
