"""``loss``: Yeom et al. (2018) loss threshold — members have lower loss.

Score = −cross-entropy of the target's probabilities at the true label. The operating point is the
Youden threshold of the same score on one shadow model's members and non-members (never the target's).
"""

from bench import Attack, Task, ThreatModel, hookimpl


class LossAttack(Attack):
    name = "loss"
    version = "2"  # 2: −log p_y from the log-softmax form (no ties at p_y = 1)
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1}

    def score(self, ctx):
        from bench.signals import cross_entropy
        from plugins.attacks._shared import calibrate_on_shadows

        c = ctx.candidates
        scores = -cross_entropy(ctx.target.predict_scores(c.x), c.y)
        calibrate_on_shadows(ctx, lambda s, pool: -cross_entropy(s.predict_scores(pool.x), pool.y), int(self.params["calibration_shadows"]))
        return scores


@hookimpl
def register_attacks(register):
    register(LossAttack)
