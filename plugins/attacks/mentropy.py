"""``mentropy``: Song & Mittal (2021) modified-entropy threshold.

Mentr(p, y) = −(1−p_y) log p_y − Σ_{i≠y} p_i log(1−p_i): monotonically decreasing in p_y and increasing in
the wrong classes' probabilities, so, unlike plain entropy, a confident wrong prediction scores as a
non-member. Signal = −Mentr; class-dependent thresholds from one shadow model, as in the paper.
"""

from bench import Attack, Task, ThreatModel, hookimpl


class ModifiedEntropyAttack(Attack):
    name = "mentropy"
    version = "2"  # 2: no saturation where p_y rounds to 1
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"calibration_shadows": 1, "per_class": True}

    @staticmethod
    def signal(probs, y):
        from plugins.attacks._shared import modified_entropy

        return -modified_entropy(probs, y)

    def score(self, ctx):
        from plugins.attacks._shared import threshold_attack_score

        return threshold_attack_score(ctx, self.signal, int(self.params["calibration_shadows"]), bool(self.params["per_class"]))


@hookimpl
def register_attacks(register):
    register(ModifiedEntropyAttack)
