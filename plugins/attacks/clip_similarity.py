"""``clip-similarity``: membership of (image, caption) in a CLIP-style model's training pairs.

Contrastive training pulls member pairs together, so score = the target's cosine similarity of the
image with its caption; the threshold is calibrated on one shadow model's own members and non-members.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class ClipSimilarity(Attack):
    name = "clip-similarity"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.IMAGE_TEXT,)
    params = {"calibration_shadows": 1}

    def score(self, ctx):
        from plugins.attacks._shared import calibrate_on_shadows

        c = ctx.candidates
        scores = np.asarray(ctx.target.similarity(c.image, c.caption), dtype=float)
        calibrate_on_shadows(ctx, lambda s, pool: s.similarity(pool.image, pool.caption), int(self.params["calibration_shadows"]))
        return scores


@hookimpl
def register_attacks(register):
    register(ClipSimilarity)
