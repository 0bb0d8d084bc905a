"""``secmi``: SecMI-stat, step-wise error comparing membership inference (Duan et al., ICML 2023).

Threat model: the model's noise predictions ε_θ(x_t, t, c) (``predict_noise``, SCORES — white-box-ish, as
in the paper: the attacker runs the model's deterministic DDIM steps). Members are fitted better, so the
deterministic reverse-and-denoise round trip at step t_SEC changes them less. With Φ_θ(x, s→s') the
DDIM (η = 0) update of the paper's Eq. 7 (``_diffusion.ddim_step``; either direction):

    x̃_{t_SEC}  = Φ_θ(x₀, 0 → k → 2k → … → t_SEC)          deterministic reverse (inversion), Eq. 9
    x̂_{t_SEC}  = Φ_θ(Φ_θ(x̃_{t_SEC}, t_SEC → t_SEC + k), t_SEC + k → t_SEC)   one step out and back, Eq. 10
    ℓ_{t_SEC}  = ‖x̂_{t_SEC} − x̃_{t_SEC}‖²                 the t-error, Eq. 11 (summed over pixels)

Score: −ℓ, with the paper's t_SEC = 100, k = 10 of T = 1000 (as the PIA authors' ``SecMIAttacker`` computes it,
``DDPM/components.py``; pinned by a test). The SecMI authors' ``mia_evals/secmia.py`` (``get_intermediate_results``
+ ``naive_statistic_attack``) inverts only to ``range(0, t_sec, k)[1:][-1]`` = t_SEC − k before the round trip,
so its ``--t_sec 100`` is ``t_sec=90`` here. Conditioning is the candidate's own caption (the paper's Stable
Diffusion setting). The NN variant (SecMI-NNs) trains a classifier on member/non-member t-errors, which
needs labelled members; it is not implemented. Cost: t_SEC/k + 2 noise predictions per candidate.
On the in-suite text-to-image model the inversion starts from ε_θ(x₀, 0), far below unit scale there: at small t_SEC
members have the larger t-error (inverted, more so the longer it trains); at t_SEC = 100 it is below chance at the
track's recipe and above it (0.69) after long training (README, "Measured").
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl

from ._diffusion import ddim_step, schedule


def t_error(predict_noise, x0, captions, ac, t_sec, k):
    """ℓ_{t_SEC} of each image (Eqs. 9–11)."""
    if t_sec % k or t_sec < k:
        raise ValueError(f"t_sec={t_sec} must be a positive multiple of the interval k={k}")
    x, t = x0, 0
    for t_next in range(k, t_sec + 1, k):
        x, t = ddim_step(predict_noise, x, t, t_next, captions, ac), t_next
    out = ddim_step(predict_noise, x, t_sec, t_sec + k, captions, ac)
    back = ddim_step(predict_noise, out, t_sec + k, t_sec, captions, ac)
    return ((back - x) ** 2).reshape(len(x0), -1).sum(1)


class SecMI(Attack):
    name = "secmi"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.GENERATION,)
    params = {"t_sec": 100, "interval": 10}

    def score(self, ctx):
        c = ctx.candidates
        err = t_error(ctx.target.predict_noise, c.image.astype(np.float64), list(c.caption), schedule(ctx), int(self.params["t_sec"]), int(self.params["interval"]))
        return -err


@hookimpl
def register_attacks(register):
    register(SecMI)
