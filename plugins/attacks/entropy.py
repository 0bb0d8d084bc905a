"""``entropy``: Song & Mittal (2021) prediction-entropy threshold — members get lower-entropy predictions.

Signal = −H(p) (higher = member), read as −log H(p): monotone, so the same attack, but a class threshold τ_y
subtracted from it keeps confident examples apart (−H − τ_y rounds to −τ_y where H is tiny). Class-dependent
thresholds from one shadow model, as in the paper.
Entropy ignores the label, so a confident wrong prediction looks like a member: ``mentropy`` fixes that.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class EntropyAttack(Attack):
    name = "entropy"
    version = "2"  # 2: −log H, so a class threshold subtracted from it keeps the confident examples apart
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1, "per_class": True}

    @staticmethod
    def signal(probs, y):
        from plugins.attacks._shared import entropy

        return -np.log(np.maximum(entropy(probs), 1e-300))  # −log H: monotone in −H, resolved near H = 0

    def score(self, ctx):
        from plugins.attacks._shared import threshold_attack_score

        return threshold_attack_score(ctx, self.signal, int(self.params["calibration_shadows"]), bool(self.params["per_class"]))


@hookimpl
def register_attacks(register):
    register(EntropyAttack)
