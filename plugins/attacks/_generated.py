"""Shared by the attacks that judge generated images: the attacker's own classifiers and a paired test."""

from __future__ import annotations

import numpy as np

__all__ = ["image_classifier", "predict", "mcnemar_greater"]


def image_classifier(images: np.ndarray, labels: np.ndarray):
    """A logistic regression on raw pixels of the attacker's population images (its measuring instrument)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(images, dtype=np.float32)
    return LogisticRegression(max_iter=500, C=0.1).fit(x.reshape(len(x), -1), np.asarray(labels))


def predict(clf, images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    return clf.predict(x.reshape(len(x), -1))


def mcnemar_greater(before: np.ndarray, after: np.ndarray) -> float:
    """One-sided exact McNemar p-value that ``after`` is True more often than ``before`` (paired booleans):
    P(Binomial(b + c, ½) ≥ b) with b = pairs False→True and c = pairs True→False; 1.0 without discordant pairs."""
    from scipy.stats import binom

    before, after = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    b, c = int(np.sum(~before & after)), int(np.sum(before & ~after))
    return 1.0 if b + c == 0 else float(binom.sf(b - 1, b + c, 0.5))
