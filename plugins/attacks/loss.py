"""``loss``: Yeom et al. (2018) loss threshold — members have lower loss.

Score = −cross-entropy of the target's probabilities at the true label. The operating point is the
Youden threshold of the same score on one shadow model's members and non-members (never the target's).
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class LossAttack(Attack):
    name = "loss"
    version = "2"  # 2: −log p_y from the log-softmax form (no ties at p_y = 1)
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1}

    def score(self, ctx):
        from bench.metrics import youden_threshold
        from bench.signals import cross_entropy

        c = ctx.candidates
        scores = -cross_entropy(ctx.target.predict_scores(c.x), c.y)
        n = int(self.params["calibration_shadows"])
        if n > 0:
            shadows = ctx.shadows(n)
            pool = shadows.pool
            cal_scores = np.concatenate([-cross_entropy(s.predict_scores(pool.x), pool.y) for s in shadows])
            cal_truth = np.concatenate(list(shadows.inclusion))
            ctx.set_threshold(youden_threshold(cal_scores, cal_truth))
        return scores


@hookimpl
def register_attacks(register):
    register(LossAttack)
