"""``idia``: Identity Inference Attack (Hintersdorf et al., 2022) on CLIP-style models.

For each candidate identity, query the target zero-shot with ``images_per_person`` images of the person
against ``num_candidates`` names (the true name among random others from the public name list), under
``num_prompts`` prompt templates. Per prompt, a majority vote over the images says whether the true name
wins; the identity's score is the fraction of prompts that say so (plus a tie-breaking share of correct
single-image predictions). The paper's decision rule — in the training data if most prompts agree — is
the operating point (threshold 0.5). Label-only: it uses top-1 predictions.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class IDIA(Attack):
    name = "idia"
    version = "1"
    threat_model = ThreatModel.LABEL
    tasks = (Task.IDENTITY_INFERENCE,)
    params = {"images_per_person": 8, "num_prompts": 6, "num_candidates": 100}

    def score(self, ctx):
        c = ctx.candidates
        extra = dict(ctx.track.extra)
        names = list(extra["names"])
        templates = list(extra["templates"])[: int(self.params["num_prompts"])]
        k = min(int(self.params["images_per_person"]), c.images.shape[1])
        m = min(int(self.params["num_candidates"]), len(names))
        scores = np.zeros(len(c))
        for i in range(len(c)):
            true = c.name[i]
            others = [n for n in ctx.rng.choice(names, size=min(m + 1, len(names)), replace=False) if n != true][: m - 1]
            options = [true] + others  # index 0 is the true name
            images = c.images[i, :k]
            votes, correct = 0, 0.0
            for t in templates:
                labels = np.asarray(ctx.target.zero_shot_labels(images, [t.format(n) for n in options]))
                counts = np.bincount(labels, minlength=len(options))
                votes += int(counts[0] > 0 and counts[0] == counts.max() and (counts == counts[0]).sum() == 1)
                correct += float(np.mean(labels == 0))
            scores[i] = votes / len(templates) + 1e-3 * correct / len(templates)
        ctx.set_threshold(0.5)
        return scores


@hookimpl
def register_attacks(register):
    register(IDIA)
