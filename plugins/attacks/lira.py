"""``lira`` / ``lira-offline``: the Likelihood Ratio Attack (Carlini et al. 2022).

For each candidate, fit Gaussians to the logit-scaled confidence φ = log(p_y / (1 − p_y)) that shadow
models assign to it when it was IN their training set and when it was OUT, under the same query
augmentations as the target query; score the target's φ by the likelihood ratio (online) or by how far
it lies above the OUT distribution, one-sided (offline). Fixed (global) variance is the variant the
paper recommends with few shadow models; it is used automatically where a candidate has < 2 IN or OUT models.
Online, the per-candidate memorization score (Feldman 2020: P(correct | IN) − P(correct | OUT) over the
shadows) and the IN/OUT mean gap of φ are exported with the scores (``memorization``, ``lira_gap``).
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class LiRA(Attack):
    name = "lira"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {
        "online": True,
        "fixed_variance": False,
        "n_shadows": None,  # None: as many as the budget allows
        "n_queries": 2,  # original + mirror (or a 1-px shift where mirroring makes no sense)
    }

    def score(self, ctx):
        from scipy.stats import norm

        from bench.signals import augment, logit_scale, query_augmentations

        online = bool(self.params["online"])
        n = int(self.params["n_shadows"] or ctx.budget.max_shadows)
        kinds = query_augmentations(int(self.params["n_queries"]), ctx.track.augmentations)
        c = ctx.candidates

        correct = []  # per shadow: is the un-augmented prediction right (for the memorization export)

        def phi(model, keep=False):  # (n_candidates, n_queries)
            probs = [model.predict_scores(augment(c.x, k)) for k in kinds]
            if keep:
                correct.append(np.asarray(probs[0]).argmax(axis=1) == c.y)
            return np.stack([logit_scale(p, c.y) for p in probs], axis=1)

        target = phi(ctx.target)
        shadows = ctx.shadows(n, online=online)
        obs = np.stack([phi(s, keep=True) for s in shadows])  # (n_models, n_candidates, n_queries)

        if online:
            inc = shadows.candidate_inclusion[:, :, None]
            _export_memorization(ctx, np.stack(correct), obs.mean(axis=2), shadows.candidate_inclusion)
            mean_in, std_in = _masked_stats(obs, inc, self.params["fixed_variance"])
            mean_out, std_out = _masked_stats(obs, ~inc, self.params["fixed_variance"])
            llr = norm.logpdf(target, mean_in, std_in) - norm.logpdf(target, mean_out, std_out)
            ctx.set_threshold(0.0)  # likelihood-ratio test at equal priors
            return llr.mean(axis=1)
        mean_out, std_out = _masked_stats(obs, np.ones_like(obs, dtype=bool), self.params["fixed_variance"])
        score = -norm.logsf(target, mean_out, std_out).mean(axis=1)
        ctx.set_threshold(-np.log(0.5))  # φ above the OUT median
        return score


def _export_memorization(ctx, correct, phi, inc):
    """Feldman-style memorization per candidate from the IN/OUT shadows (NaN where a side has no model).

    ``memorization`` = P(correct | IN) − P(correct | OUT); ``lira_gap`` = mean φ IN − mean φ OUT.
    High values mark the examples whose membership leaks most.
    """
    n_in, n_out = inc.sum(axis=0), (~inc).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mem = (correct * inc).sum(0) / n_in - (correct * ~inc).sum(0) / n_out
        gap = (phi * inc).sum(0) / n_in - (phi * ~inc).sum(0) / n_out
    ctx.export("memorization", mem)
    ctx.export("lira_gap", gap)


def _masked_stats(obs, mask, fixed_variance):
    """Per-candidate mean and std of obs over the models where mask holds; global std where asked or undefined."""
    mask = np.broadcast_to(mask, obs.shape)
    count = mask.sum(axis=0)
    total = np.where(mask, obs, 0.0).sum(axis=0)
    mean = total / np.maximum(count, 1)
    var = np.where(mask, (obs - mean) ** 2, 0.0).sum(axis=0) / np.maximum(count - 1, 1)
    pooled = np.sqrt(np.where(count > 1, var, 0.0).sum(axis=0) / np.maximum((count > 1).sum(axis=0), 1))
    pooled = np.where(pooled > 0, pooled, 1.0)
    std = np.sqrt(var)
    use_global = fixed_variance | (count < 2)
    std = np.where(use_global, pooled[None, :], std)
    # With no model on one side there is no evidence: centre on the global mean of that side.
    if (count == 0).any():
        mean = np.where(count == 0, np.where(mask, obs, 0.0).sum(axis=(0, 1)) / max(mask.sum(), 1), mean)
    return mean, np.maximum(std, 1e-6)


class LiRAOffline(LiRA):
    name = "lira-offline"
    params = {**LiRA.params, "online": False}


@hookimpl
def register_attacks(register):
    register(LiRA)
    register(LiRAOffline)
