"""``confidence``: Song & Mittal (2021) confidence threshold — members get a higher probability on their label.

Signal = p_y, the target's probability of the true label. Thresholds are class-dependent (τ_y, Youden on
one shadow model's members and non-members), as in the paper; the score is p_y − τ_y with operating point 0.
"""

from bench import Attack, Task, ThreatModel, hookimpl


class ConfidenceAttack(Attack):
    name = "confidence"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1, "per_class": True}

    @staticmethod
    def signal(probs, y):
        from bench.signals import true_class_prob

        return true_class_prob(probs, y)

    def score(self, ctx):
        from plugins.attacks._shared import threshold_attack_score

        return threshold_attack_score(ctx, self.signal, int(self.params["calibration_shadows"]), bool(self.params["per_class"]))


@hookimpl
def register_attacks(register):
    register(ConfidenceAttack)
