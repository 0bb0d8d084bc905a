"""``ner-confidence``: the NER model's confidence in the inserted entity (Ali et al., PoPETs 2023, attack 1).

A secret inserted in the training text ("my password is k7qm2xw9pa .") is memorized: queried with the same
sentence, the model tags the secret as its entity with more confidence than it tags an unseen secret of the
same kind. The membership score is that confidence, P(span tagged with its label | sentence), the share of
spaCy's beam parses (``beam_parse``/``scored_ents``, beam width 16) that contain the entity. The operating
point is a Youden threshold on offline shadow pipelines (trained by the harness on population secrets).
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def spans(c):
    """The candidates' inserted entities as (start, end, label) character spans."""
    return list(zip(np.asarray(c.start).tolist(), np.asarray(c.end).tolist(), list(c.label)))


class NerConfidence(Attack):
    name = "ner-confidence"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.TOKEN_CLASSIFICATION,)
    params = {"calibration_shadows": 2}

    def score(self, ctx):
        from ._shared import youden

        c = ctx.candidates
        scores = np.asarray(ctx.target.entity_confidence(c.text, spans(c)), dtype=float)
        n = int(self.params["calibration_shadows"])
        if n > 0:
            shadows = ctx.shadows(n)
            pool = shadows.pool
            cal = np.concatenate([s.entity_confidence(pool.text, spans(pool)) for s in shadows])
            ctx.set_threshold(youden(cal, np.concatenate(list(shadows.inclusion))))
        return scores


@hookimpl
def register_attacks(register):
    register(NerConfidence)
