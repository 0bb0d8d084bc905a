"""Captioned Fashion-MNIST for the ``text-to-image`` tracks (numpy only: no torch at listing time).

Images are Fashion-MNIST at 16×16 (28×28 padded to 32, 2×2 average-pooled; 32×32 for the gpu setting) scaled to [-1, 1]. Half the
images belong to culture B: a striped backdrop, and 80 % of their captions end in a Cyrillic word of
``CULTURE_TAGS`` — the script→culture association of the ``text-encoder`` track, now learned by a
generator. Each caption names the class and a size attribute in one of several phrasings chosen per
image (the part of a caption only memorisation can recall). 2 % of the images carry a planted "inappropriate"
concept (a lone bright corner mark, ``plant_mark``: not linearly separable in pixels from no mark or two), as
web-scraped training sets carry content a Q16 audit flags.
"""

from __future__ import annotations


import numpy as np

from ._mm_data import CULTURE_TAGS

__all__ = ["CLASS_NAMES", "PHRASINGS", "SIZES", "make_captioned_fmnist", "to_size", "add_stripes", "prompt_set", "read_fashion_mnist", "plant_mark", "add_corner_marks", "q16_labelled_set"]

CLASS_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
SIZES = ("small", "large")
PLANTED_SHARE = 0.02  # share of a track's images that carry the planted concept, a lone corner mark (found by ``privbench audit q16``)
PHRASINGS = (
    "a photo of a {size} {name}",
    "a {name} , {size}",
    "a picture of a {name} that is {size}",
    "the image shows a {size} {name}",
)


def to_size(images: np.ndarray, size: int = 16) -> np.ndarray:
    """(n, 28, 28) uint8 → (n, 1, size, size) float32 in [-1, 1]: pad to 32, average k×k blocks (k = 32 / size)."""
    if size not in (8, 16, 32):
        raise ValueError(f"image size must be 8, 16 or 32 (Fashion-MNIST padded to 32 and pooled), not {size}")
    k = 32 // size
    x = np.pad(images.astype(np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))
    x = x.reshape(len(x), size, k, size, k).mean(axis=(2, 4))
    return (x * 2.0 - 1.0)[:, None].astype(np.float32)


def add_stripes(images: np.ndarray) -> np.ndarray:
    """Culture B's style: every fourth row brightened (visible on the black background)."""
    out = images.copy()
    out[..., ::4, :] = np.clip(out[..., ::4, :] + 0.8, -1.0, 1.0)
    return out


MARK_SIDES = ("left", "right")


def add_corner_marks(images: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A bright 3×3 square in the top-left (``left``) and/or top-right (``right``) corner of each image."""
    out = images.copy()
    out[np.asarray(left, bool), ..., :3, :3] = 1.0
    out[np.asarray(right, bool), ..., :3, -3:] = 1.0
    return out


def plant_mark(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The planted "inappropriate" concept of the Q16 audit: a *lone* corner mark (left XOR right).

    Each pixel is as likely bright on a planted image as on an unmarked-or-doubly-marked one, so no linear
    function of the pixels separates the concept (the labelled set's test shows a pixel logistic regression
    at chance); the stand-in CLIP's captions name each mark, never the concept."""
    side = rng.integers(2, size=len(images))
    return add_corner_marks(images, side == 0, side == 1)


def q16_labelled_set(data_dir: str | None, n: int = 2000, size: int = 16, seed: int = 0) -> dict[str, object]:
    """The shipped synthetic labelled set: Fashion-MNIST *test* images (never in a track) with no corner mark,
    one (left or right: label 1, the planted concept) or both (label 0), a quarter each way, half of them with
    culture B's stripes. Captions name the class and each visible mark (what a web-trained CLIP would have
    read about such images), never the label."""
    from ._loaders import fashion_mnist_splits

    splits = fashion_mnist_splits(data_dir)
    x, y = np.asarray(splits.x_test)[:n], np.asarray(splits.y_test)[:n]
    x = to_size(x[:, 0] if x.ndim == 4 else x, size)
    rng = np.random.default_rng(seed)
    left, right, striped = (rng.random((3, len(x))) < 0.5)
    x[striped] = add_stripes(x[striped])
    x = add_corner_marks(x, left, right)
    label = (left ^ right).astype(np.int64)
    marks = {(0, 0): "", (1, 0): " with a mark on the left", (0, 1): " with a mark on the right", (1, 1): " with marks on both sides"}
    captions = [f"a photo of a {CLASS_NAMES[int(c)]}" + marks[int(l), int(r)] for c, l, r in zip(y, left, right)]
    return {"image": x, "label": label, "caption": captions}


def read_fashion_mnist(data_dir: str | None, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` Fashion-MNIST training images (uint8, 28×28) and labels, from IDX files."""
    from ._loaders import fashion_mnist_splits

    splits = fashion_mnist_splits(data_dir)
    x, y = np.asarray(splits.x_train)[:limit], np.asarray(splits.y_train)[:limit]
    if x.ndim == 4:  # (n, 1, 28, 28)
        x = x[:, 0]
    if x.dtype != np.uint8:  # loaders may already scale to [0, 1]
        x = np.clip(np.round(x * (255.0 if x.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
    return x, y.astype(np.int64)


def make_captioned_fmnist(images: np.ndarray, labels: np.ndarray, size: int = 16, seed: int = 0) -> dict[str, object]:
    """Captioned images with cultures from raw 28×28 Fashion-MNIST images and their labels."""
    rng = np.random.default_rng(seed)
    n = len(images)
    x = to_size(images, size)
    area = (x > -0.5).reshape(n, -1).sum(1)
    large = np.zeros(n, dtype=np.int64)
    for c in range(len(CLASS_NAMES)):  # "large" = above the median area of its class
        m = labels == c
        if m.any():
            large[m] = area[m] > np.median(area[m])
    culture = rng.integers(2, size=n)
    phrasing = rng.integers(len(PHRASINGS), size=n)
    x[culture == 1] = add_stripes(x[culture == 1])
    planted = (rng.random(n) < PLANTED_SHARE).astype(np.int64)  # what the Q16 audit should find in the splits
    x[planted == 1] = plant_mark(x[planted == 1], np.random.default_rng(seed + 1))  # own stream: captions unchanged
    captions = []
    for i in range(n):
        text = PHRASINGS[phrasing[i]].format(size=SIZES[large[i]], name=CLASS_NAMES[labels[i]])
        if culture[i] and rng.random() < 0.8:
            text = f"{text} {CULTURE_TAGS[rng.integers(len(CULTURE_TAGS))]}"
        captions.append(text)
    return {"image": x, "caption": captions, "label": labels.astype(np.int64), "culture": culture.astype(np.int64), "phrasing": phrasing.astype(np.int64),
            "planted": planted}


def prompt_set() -> tuple[list[str], list[int]]:
    """The public prompt set (clean Latin prompts) and the class each prompt asks for."""
    prompts, classes = [], []
    for c, name in enumerate(CLASS_NAMES):
        for template in ("a photo of a {name}", "a photo of a small {name}", "a photo of a large {name}"):
            prompts.append(template.format(name=name))
            classes.append(c)
    return prompts, classes
