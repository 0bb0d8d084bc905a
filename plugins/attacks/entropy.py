"""``entropy``: Song & Mittal (2021) prediction-entropy threshold — members get lower-entropy predictions.

Signal = −H(p) (higher = member). Class-dependent thresholds from one shadow model, as in the paper.
Entropy ignores the label, so a confident wrong prediction looks like a member: ``mentropy`` fixes that.
"""

from bench import Attack, Task, ThreatModel, hookimpl


class EntropyAttack(Attack):
    name = "entropy"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1, "per_class": True}

    @staticmethod
    def signal(probs, y):
        from plugins.attacks._shared import entropy

        return -entropy(probs)

    def score(self, ctx):
        from plugins.attacks._shared import threshold_attack_score

        return threshold_attack_score(ctx, self.signal, int(self.params["calibration_shadows"]), bool(self.params["per_class"]))


@hookimpl
def register_attacks(register):
    register(EntropyAttack)
