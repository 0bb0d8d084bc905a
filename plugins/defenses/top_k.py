"""``top-k``: confidence masking: serve only the k largest probabilities (renormalized), zero elsewhere (Shokri et al. 2017)."""

import numpy as np

from bench import Defense, Predictor, hookimpl


class TopKPredictor(Predictor):
    def __init__(self, inner, k: int):
        self.inner = inner
        self.k = int(k)

    def predict_labels(self, x):
        return np.asarray(self.inner.predict_labels(x))

    def predict_scores(self, x):
        p = np.asarray(self.inner.predict_scores(x), dtype=np.float64)
        k = min(self.k, p.shape[1])
        # stable sort keeps the first-index tie-breaking of argmax, so the label never changes
        keep = np.argsort(-p, axis=1, kind="stable")[:, :k]
        out = np.zeros_like(p)
        rows = np.arange(len(p))[:, None]
        out[rows, keep] = p[rows, keep]
        return out / out.sum(axis=1, keepdims=True)


class TopK(Defense):
    name = "top-k"
    version = "1"
    params = {"k": 3}

    def serve(self, predictor):
        if int(self.params["k"]) < 1:
            raise ValueError(f"top-k: k must be at least 1, not {self.params['k']}")
        return TopKPredictor(predictor, int(self.params["k"]))


@hookimpl
def register_defenses(register):
    register(TopK)
