"""``mentropy``: Song & Mittal (2021) modified-entropy threshold.

Mentr(p, y) = −(1−p_y) log p_y − Σ_{i≠y} p_i log(1−p_i): monotonically decreasing in p_y and increasing in
the wrong classes' probabilities, so, unlike plain entropy, a confident wrong prediction scores as a
non-member. Signal = −Mentr, read as −log Mentr: monotone, so the same attack, but a class threshold τ_y subtracted
from it keeps confident examples apart (version 2's −Mentr − τ_y rounded to −τ_y where Mentr is about 1e-30:
10–37 % of fashion-mnist scores tied). Class-dependent thresholds from one shadow model, as in the paper.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class ModifiedEntropyAttack(Attack):
    name = "mentropy"
    version = "3"  # 3: −log Mentr (−Mentr − τ_y rounded to −τ_y near 0); 2: no saturation where p_y rounds to 1
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1, "per_class": True}

    @staticmethod
    def signal(probs, y):
        from plugins.attacks._shared import modified_entropy

        return -np.log(np.maximum(modified_entropy(probs, y), 1e-300))  # −log Mentr: monotone, resolved near 0

    def score(self, ctx):
        from plugins.attacks._shared import threshold_attack_score

        return threshold_attack_score(ctx, self.signal, int(self.params["calibration_shadows"]), bool(self.params["per_class"]))


@hookimpl
def register_attacks(register):
    register(ModifiedEntropyAttack)
