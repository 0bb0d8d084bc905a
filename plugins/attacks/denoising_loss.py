"""``denoising-loss``: membership by a diffusion model's denoising loss at chosen timesteps, shadow-calibrated.

Threat model: the model's noise predictions ε_θ(x_t, t, c) (``predict_noise``, SCORES — "white-box-ish":
more than a deployed generator shows). Training pairs have lower loss (Carlini et al., "Extracting
Training Data from Diffusion Models", USENIX Security 2023, §5 — the loss at a chosen t, calibrated with
shadow models; Matsumoto et al. 2023):

    L_t(x, c) = E_ε ‖ε − ε_θ(√ᾱ_t x + √(1−ᾱ_t) ε, t, c)‖²            (fixed ε draws, the same for every model)

Calibration on the attacker's shadow models (offline: trained on halves of the population):
  1. the timestep t* ∈ ``timesteps`` whose loss best separates each shadow's own members from its
     non-members (mean AUC over the shadows);
  2. per-example difficulty (Watson et al. 2022's calibration; LiRA offline, Carlini et al. 2022, reduces to it
     with one global variance): the candidate's mean loss under the shadows, which never trained on it, is
     subtracted. Carlini et al. 2023 fit LiRA's per-example Gaussians to this loss instead.
Score: −(L_t*(target) − mean_shadows L_t*). With no shadow allowed by the budget, −L_t at ``default_t``.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl

from ._diffusion import auc, denoising_losses, fixed_noise, schedule


class DenoisingLoss(Attack):
    name = "denoising-loss"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.GENERATION,)
    params = {"timesteps": [10, 50, 100, 200, 400], "noise_draws": 2, "shadows": 4, "default_t": 100}

    def score(self, ctx):
        ac = schedule(ctx)
        ts = [int(t) for t in self.params["timesteps"]]
        if int(self.params["default_t"]) not in ts:
            raise ValueError(f"default_t={self.params['default_t']} must be one of timesteps={ts}")
        c = ctx.candidates
        draws = int(self.params["noise_draws"])
        noise = fixed_noise(ctx.seed, c.image.shape, draws)  # (draws, n, C, H, W): per candidate, same for every model
        target = denoising_losses(ctx.target.predict_noise, c.image, list(c.caption), ts, ac, noise)
        n = min(int(self.params["shadows"]), ctx.budget.max_shadows)
        if n == 0:
            return -target[:, ts.index(int(self.params["default_t"]))]
        shadows = ctx.shadows(n)
        separation = np.zeros(len(ts))
        reference = np.zeros_like(target)
        p = shadows.pool
        pool_noise = fixed_noise(ctx.seed + 1, p.image.shape, draws)
        for i, model in enumerate(shadows):
            pool = denoising_losses(model.predict_noise, p.image, list(p.caption), ts, ac, pool_noise)
            separation += [auc(-pool[:, j], shadows.inclusion[i]) for j in range(len(ts))]
            reference += denoising_losses(model.predict_noise, c.image, list(c.caption), ts, ac, noise) / n
        best = int(np.argmax(separation))
        ctx.export("chosen_timestep", np.full(len(c), ts[best]))
        return -(target[:, best] - reference[:, best])


@hookimpl
def register_attacks(register):
    register(DenoisingLoss)
