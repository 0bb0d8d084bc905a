"""``shokri``: Shokri et al. (S&P 2017), membership inference with shadow models.

N shadow models are trained like the target on random halves of the population (``ctx.shadows``).
Each shadow's pool gives labelled records (probability vector, true label, IN/OUT). Records are grouped
by true label and **one binary attack model per class** (an MLP, 50 hidden units as in the reference
code) learns IN vs OUT from the probability vector. A candidate (x, y) is scored by the attack model of
class y; the operating point is P(member) = 1/2.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class Shokri(Attack):
    name = "shokri"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"n_shadows": 10, "hidden": 50, "max_train_per_class": 4000}

    def score(self, ctx):
        from plugins.attacks._shared import balanced_subsample, fit_attack_model, member_probability

        n = min(int(self.params["n_shadows"]), ctx.budget.max_shadows)
        shadows = ctx.shadows(n)
        pool = shadows.pool
        feats = np.concatenate([s.predict_scores(pool.x) for s in shadows])
        truth = np.concatenate(list(shadows.inclusion))
        labels = np.concatenate([pool.y] * len(shadows))

        c = ctx.candidates
        target_probs = np.asarray(ctx.target.predict_scores(c.x), dtype=np.float64)
        scores = np.zeros(len(c))
        self.attack_models = {}
        for k in range(int(ctx.track.num_classes)):
            rows = np.flatnonzero(labels == k)
            pick = rows[balanced_subsample(truth[rows], int(self.params["max_train_per_class"]), ctx.rng)]
            model = fit_attack_model(feats[pick], truth[pick], (int(self.params["hidden"]),), seed=ctx.seed + k)
            self.attack_models[k] = model
            mine = c.y == k
            if mine.any():
                scores[mine] = member_probability(model, target_probs[mine])
        ctx.set_threshold(0.0)
        return scores


@hookimpl
def register_attacks(register):
    register(Shokri)
