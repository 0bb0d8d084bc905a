"""``label-only``: confidence masking to the extreme: serve only the predicted label.

``predict_scores`` answers a one-hot vector of the predicted class, so a score-based attack sees no more than a
label-only attacker would (Choquette-Choo et al. 2021: this defeats the scores' advantage, not label-only attacks).
"""

import numpy as np

from bench import Defense, Predictor, hookimpl


class LabelOnlyPredictor(Predictor):
    """Serves ``inner``'s labels; its "scores" are the one-hot encoding of those labels."""

    def __init__(self, inner):
        self.inner = inner

    def predict_labels(self, x):
        return np.asarray(self.inner.predict_labels(x))

    def predict_scores(self, x):
        scores = np.asarray(self.inner.predict_scores(x))
        out = np.zeros_like(scores, dtype=np.float64)
        out[np.arange(len(scores)), scores.argmax(axis=1)] = 1.0
        return out


class LabelOnly(Defense):
    name = "label-only"
    version = "1"

    def serve(self, predictor):
        return LabelOnlyPredictor(predictor)


@hookimpl
def register_defenses(register):
    register(LabelOnly)
