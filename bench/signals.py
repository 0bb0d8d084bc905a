"""Membership signals and query augmentations shared by attacks (public; numpy only).

>>> p = np.array([[0.9, 0.1], [0.5, 0.5]])
>>> np.round(logit_scale(p, np.array([0, 1])), 3).tolist()
[2.197, 0.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["true_class_prob", "logit_scale", "cross_entropy", "query_augmentations", "augment"]

_TINY = 1e-300
# φ's floor where a served probability is exactly 0 or 1 (top-k, rounded, label-only outputs): the LiRA reference's
# (score.py: log(y_true + 1e-45) − log(y_wrong + 1e-45)), so a saturated φ is ±103.6 there and here, not ±690.8
_PHI_FLOOR = 1e-45


def true_class_prob(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(probs)[np.arange(len(y)), np.asarray(y)]


def _true_and_rest(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_y, Σ_{k≠y} p_k): summing the other classes keeps precision where p_y rounds to 1."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    mask = np.ones_like(probs, dtype=bool)
    mask[np.arange(len(y)), y] = False
    return probs[np.arange(len(y)), y], np.where(mask, probs, 0.0).sum(axis=1)


def logit_scale(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LiRA's φ = log(p_y / (1 − p_y)), with 1 − p_y summed from the other classes for precision."""
    py, rest = _true_and_rest(probs, y)
    return np.log(py + _PHI_FLOOR) - np.log(rest + _PHI_FLOOR)


def cross_entropy(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """−log p_y computed as log(1 + Σ_{k≠y} p_k / p_y), i.e. −log-softmax: it keeps ranking members whose p_y
    rounds to 1 (−log(p_y) would be exactly 0 for all of them and tie at the top)."""
    py, rest = _true_and_rest(probs, y)
    return np.log1p(rest / np.maximum(py, _TINY))


def augment(x: np.ndarray, kind: str) -> np.ndarray:
    """One deterministic query augmentation of an (N, C, H, W) batch: "id", "mirror", or "shift:dx,dy" (zero fill)."""
    if kind == "id":
        return x
    if kind == "mirror":
        return x[..., ::-1].copy()
    if kind.startswith("shift:"):
        dx, dy = (int(v) for v in kind[6:].split(","))
        out = np.zeros_like(x)
        h, w = x.shape[-2:]
        src = x[..., max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        out[..., max(0, dy) : max(0, dy) + src.shape[-2], max(0, dx) : max(0, dx) + src.shape[-1]] = src
        return out
    raise ValueError(f"unknown query augmentation {kind!r} (id, mirror, shift:dx,dy)")


def query_augmentations(n: int, allowed: tuple[str, ...]) -> list[str]:
    """The first n query augmentations a track allows: the original, its mirror, then 1-px shifts."""
    kinds = ["id"]
    if "mirror" in allowed:
        kinds.append("mirror")
    if "shift" in allowed:
        kinds += [f"shift:{dx},{dy}" for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))]
    if n > len(kinds):
        raise ValueError(f"{n} query augmentations asked for, but this track allows only {len(kinds)}: {kinds}")
    return kinds[:n]
