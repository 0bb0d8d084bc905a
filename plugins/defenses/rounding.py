"""``rounding``: confidence masking: serve probabilities rounded to ``decimals`` digits (Shokri et al. 2017).

Labels are served from the unrounded model, so rounding never changes the predicted label (nor test accuracy).
"""

import numpy as np

from bench import Defense, Predictor, hookimpl


class RoundingPredictor(Predictor):
    def __init__(self, inner, decimals: int):
        self.inner = inner
        self.decimals = int(decimals)

    def predict_labels(self, x):
        return np.asarray(self.inner.predict_labels(x))

    def predict_scores(self, x):
        return np.round(np.asarray(self.inner.predict_scores(x), dtype=np.float64), self.decimals)


class Rounding(Defense):
    name = "rounding"
    version = "1"
    params = {"decimals": 1}

    def serve(self, predictor):
        return RoundingPredictor(predictor, int(self.params["decimals"]))


@hookimpl
def register_defenses(register):
    register(Rounding)
