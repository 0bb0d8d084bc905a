"""A minimal label-only attack (Choquette-Choo et al. 2021, data-augmentation variant), for defense checks only.

NOT a registered first-party plugin: it exists so the defense experiments can compare label-only attacks with
score-based ones before the real label-only attacks land. Load it with ``privbench run --plugin`` (see
experiments/README.md). Score = whether the target labels the original correctly (the gap
attack), then, among those, how many of its 1-px shifts it also labels correctly (members are more robust);
labels only, no shadows.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class LabelAugMin(Attack):
    name = "label-aug-min"
    threat_model = ThreatModel.LABEL
    tasks = (Task.CLASSIFICATION,)
    params = {"max_shift": 1}

    def score(self, ctx):
        from bench.signals import augment

        c = ctx.candidates
        r = int(self.params["max_shift"])
        kinds = ["id"] + [f"shift:{dx},{dy}" for dx in range(-r, r + 1) for dy in range(-r, r + 1) if (dx, dy) != (0, 0)]
        correct = np.stack([ctx.target.predict_labels(augment(c.x, k)) == c.y for k in kinds], axis=1)
        # lexicographic: correctness of the original first, robustness under shifts breaks the ties
        return correct[:, 0] * len(kinds) + correct[:, 1:].sum(axis=1)


@hookimpl
def register_attacks(register):
    register(LabelAugMin)
