"""``confidence-clamp``: move every top-1 probability toward a fixed ``confidence`` and rescale the rest.

A cheap output-perturbation baseline, *not* MemGuard (``memguard`` implements Jia et al. 2019): no defender
attack model, no adversarial noise. Each served probability vector gets its top probability moved toward
``confidence`` (or as close as the label allows), by at most ``budget``/2 (L1 distortion ``budget``), and the
other classes rescaled proportionally, which keeps their ranking. Labels are served from the unperturbed model,
so test accuracy is unchanged by construction.
"""

import numpy as np

from bench import Defense, Predictor, hookimpl


def clamp_confidence(p: np.ndarray, confidence: float, budget: float, margin: float = 1e-6) -> np.ndarray:
    """Perturbed copies of the rows of ``p`` (probability vectors); the argmax of each row is kept."""
    p = np.asarray(p, dtype=np.float64)
    n, k = p.shape
    rows = np.arange(n)
    top = p.argmax(axis=1)
    p_top = p[rows, top]
    others = p.copy()
    others[rows, top] = 0.0
    p_2 = others.max(axis=1)
    rest = others.sum(axis=1)  # summed, not 1 − p_top: keeps precision near p_top = 1
    # Lowest top value that keeps the label after the others scale by (1 − t) / rest: t ≥ p_2 / (rest + p_2);
    # for a one-hot row the others share 1 − t evenly, so t > 1/k.
    floor = np.where(rest > 0, p_2 / np.maximum(rest + p_2, 1e-300), 1.0 / k) + margin
    goal = np.clip(np.maximum(confidence, floor), 0.0, 1.0)
    step = np.clip(goal - p_top, -budget / 2, budget / 2)  # L1 distortion is 2|Δtop|
    t = p_top + step
    scale = np.where(rest > 0, (1.0 - t) / np.maximum(rest, 1e-300), 0.0)
    out = p * scale[:, None]
    # A one-hot row has no mass elsewhere: spread what the top gives up evenly over the other classes.
    flat = rest <= 0
    if flat.any() and k > 1:
        out[flat] = ((1.0 - t[flat]) / (k - 1))[:, None]
    out[rows, top] = t
    return out


class ClampedPredictor(Predictor):
    def __init__(self, inner, confidence: float, budget: float):
        self.inner = inner
        self.confidence = float(confidence)
        self.budget = float(budget)

    def predict_labels(self, x):
        return np.asarray(self.inner.predict_labels(x))

    def predict_scores(self, x):
        return clamp_confidence(self.inner.predict_scores(x), self.confidence, self.budget)


class ConfidenceClamp(Defense):
    name = "confidence-clamp"
    version = "1"
    params = {"confidence": 0.8, "budget": 1.0}

    def serve(self, predictor):
        c, b = float(self.params["confidence"]), float(self.params["budget"])
        if not 0 < c < 1 or b < 0:
            raise ValueError(f"confidence-clamp: need 0 < confidence < 1 and budget ≥ 0, got {c}, {b}")
        return ClampedPredictor(predictor, c, b)


@hookimpl
def register_defenses(register):
    register(ConfidenceClamp)
