"""``confidence``: Song & Mittal (2021) confidence threshold — members get a higher probability on their label.

Signal = p_y, the target's probability of the true label, read on its log-odds scale log p_y − log Σ_{k≠y} p_k
(monotone in p_y, so the same attack, but resolved where p_y rounds to 1). Thresholds are class-dependent (τ_y,
Youden on one shadow model's members and non-members), as in the paper; the score is the signal − τ_y with operating
point 0. Version 1 read p_y itself: 1.0 exactly for many confident outputs (on fashion-mnist under dpsgd, 12 % of
non-members), a tie at the member end that the harness's thresholds cannot split (TPR at 1 % FPR read 0).
"""

from bench import Attack, Task, ThreatModel, hookimpl


class ConfidenceAttack(Attack):
    name = "confidence"
    version = "2"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1, "per_class": True}

    @staticmethod
    def signal(probs, y):
        from bench.signals import logit_scale

        return logit_scale(probs, y)

    def score(self, ctx):
        from plugins.attacks._shared import threshold_attack_score

        return threshold_attack_score(ctx, self.signal, int(self.params["calibration_shadows"]), bool(self.params["per_class"]))


@hookimpl
def register_attacks(register):
    register(ConfidenceAttack)
