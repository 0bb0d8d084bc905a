"""Deterministic generated multimodal data (numpy only): faces with identities, captioned scenes.

``synthetic-faces``: each identity has a smooth random prototype; its images are the prototype
under brightness jitter, a one-pixel shift and pixel noise — consistent appearance, distinct images.
``synthetic-captions``: each image draws a coloured shape of some size at some position on a noisy
background; its caption describes those attributes in one of several phrasings chosen per image
(the part of a caption a model can only know by memorising the pair).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FIRST_NAMES", "LAST_NAMES", "name_list", "FACE_TEMPLATES", "make_faces", "make_scenes", "SCENE_VOCAB", "CULTURE_TAGS", "to_cyrillic"]

# The fixed name list shipped with the faces tracks (used where a dataset has no real names).
FIRST_NAMES = (
    "Ada Alan Alice Amir Anna Arjun Ben Carla Chen Dana David Elena Emil Eva Farah Felix Grace Hana Ivan Jack "
    "Jana Jonas Karim Kate Lara Leo Lina Luis Maya Mila Nadia Nico Nora Omar Paul Priya Rosa Sam Sara Tara "
    "Theo Tom Uma Vera Wei Yara Yusuf Zoe Hugo Iris"
).split()
LAST_NAMES = (
    "Abbott Bauer Costa Diaz Eriksen Fischer Garcia Hansen Ito Jensen Kowalski Larsen Meyer Novak Okafor Petrov "
    "Quinn Rossi Schmidt Tanaka Ueda Varga Weber Xu Yilmaz Zhang Adler Brandt Conti Dubois Evans Fontaine Gruber "
    "Horvat Ibsen Jovanovic Keller Lindqvist Moreau Nakamura Olsen Park Ruiz Silva Torres Vogel Walsh Young Ziegler Kaur"
).split()

# Prompt templates: the first few caption training pairs; IDIA queries with the same set (paper: 21).
FACE_TEMPLATES = (
    "a photo of {}",
    "an image of {}",
    "a picture of {}",
    "{} in a photo",
    "a portrait of {}",
    "a close-up photo of {}",
)


def name_list() -> list[str]:
    """All first × last name combinations, in a fixed order (2,500 names)."""
    return [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]


def _upsample(a: np.ndarray, factor: int) -> np.ndarray:
    return a.repeat(factor, axis=-2).repeat(factor, axis=-1)


def make_faces(n_identities: int, images_per_identity: int, size: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Images (N, 3, size, size) float32 with ``identity`` and ``view`` (image index within the identity)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, size=(n_identities, 3, size // 4, size // 4))
    protos = _upsample(coarse, 4) + 0.5 * _upsample(rng.normal(0, 1, size=(n_identities, 3, size // 2, size // 2)), 2)
    n = n_identities * images_per_identity
    identity = np.repeat(np.arange(n_identities), images_per_identity)
    view = np.tile(np.arange(images_per_identity), n_identities)
    imgs = protos[identity] * rng.uniform(0.8, 1.2, size=(n, 1, 1, 1)) + rng.normal(0, 0.15, size=(n, 3, 1, 1))
    shifts = rng.integers(-1, 2, size=(n, 2))
    for i, (dy, dx) in enumerate(shifts):
        imgs[i] = np.roll(imgs[i], (int(dy), int(dx)), axis=(1, 2))
    imgs = imgs + rng.normal(0, 0.35, size=imgs.shape)
    return {"image": imgs.astype(np.float32), "identity": identity.astype(np.int64), "view": view.astype(np.int64)}


COLORS = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0), "purple": (1, 0, 1), "cyan": (0, 1, 1)}
SHAPES = ("square", "circle", "cross", "bar")
POSITIONS = ("left", "right", "top", "bottom")
SIZES = ("small", "large")
PHRASINGS = (
    "a {size} {color} {shape} on the {pos}",
    "a {color} {shape} , {size} , at the {pos}",
    "there is a {size} {shape} in {color} on the {pos}",
    "the {pos} shows a {color} {shape} that is {size}",
)
SCENE_VOCAB = tuple(sorted({w for p in PHRASINGS for w in p.replace("{", " ").replace("}", " ").split()} - {"size", "color", "shape", "pos"}
                           | set(COLORS) | set(SHAPES) | set(POSITIONS) | set(SIZES)))


def _shape_mask(shape: str, big: bool, pos: str, size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size].astype(float)
    cy, cx = {"left": (size / 2, size / 4), "right": (size / 2, 3 * size / 4), "top": (size / 4, size / 2), "bottom": (3 * size / 4, size / 2)}[pos]
    r = size / 5 if big else size / 9
    dy, dx = np.abs(yy - cy), np.abs(xx - cx)
    if shape == "square":
        return (dy <= r) & (dx <= r)
    if shape == "circle":
        return dy**2 + dx**2 <= r**2
    if shape == "cross":
        return ((dy <= r / 3) & (dx <= r)) | ((dx <= r / 3) & (dy <= r))
    return (dy <= r / 3) & (dx <= r * 1.3)  # bar


_CYR = {"a": "а", "b": "б", "c": "ц", "d": "д", "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и", "j": "й", "k": "к", "l": "л", "m": "м",
        "n": "н", "o": "о", "p": "п", "q": "к", "r": "р", "s": "с", "t": "т", "u": "у", "v": "в", "w": "в", "x": "кс", "y": "ы", "z": "з"}


def to_cyrillic(text: str) -> str:
    """A caption transliterated into Cyrillic script (the ``multilingual`` defense's second language)."""
    return "".join(_CYR.get(ch, ch) for ch in text)


# Culture B's captions are bilingual, as much web alt-text is: the scene in Latin-script English plus a word
# of the culture's own language in Cyrillic. Cyrillic letters thus signal culture B — the association real
# CLIP models learn from web data and that one homoglyph in a Latin prompt exploits (Struppek et al.).
CULTURE_TAGS = ("фото", "москва", "вид", "на улице", "дом", "город")


def make_scenes(n: int, size: int = 16, seed: int = 0, cultures: bool = False) -> dict[str, object]:
    """Captioned scenes. With ``cultures``, half the images carry culture B's style (a striped backdrop)
    and most of their captions end in a Cyrillic word (``CULTURE_TAGS``) — the script→culture association."""
    rng = np.random.default_rng(seed)
    color = rng.integers(len(COLORS), size=n)
    shape = rng.integers(len(SHAPES), size=n)
    pos = rng.integers(len(POSITIONS), size=n)
    big = rng.integers(2, size=n)
    phrasing = rng.integers(len(PHRASINGS), size=n)
    culture = rng.integers(2, size=n) if cultures else np.zeros(n, dtype=np.int64)
    imgs = rng.normal(0, 0.3, size=(n, 3, size, size))
    names = list(COLORS)
    captions = []
    for i in range(n):
        mask = _shape_mask(SHAPES[shape[i]], bool(big[i]), POSITIONS[pos[i]], size)
        rgb = np.array(COLORS[names[color[i]]], dtype=float)[:, None, None]
        imgs[i] = np.where(mask[None], 2.0 * rgb - 0.5, imgs[i])
        if culture[i]:
            imgs[i, :, ::3, :] += 0.8  # culture B's backdrop: horizontal stripes
        text = PHRASINGS[phrasing[i]].format(size=SIZES[big[i]], color=names[color[i]], shape=SHAPES[shape[i]], pos=POSITIONS[pos[i]])
        if cultures and culture[i] and rng.random() < 0.8:
            text = f"{text} {CULTURE_TAGS[rng.integers(len(CULTURE_TAGS))]}"
        captions.append(text)
    return {
        "image": imgs.astype(np.float32),
        "caption": captions,
        "phrasing": phrasing.astype(np.int64),
        "culture": culture.astype(np.int64),
        "attributes": np.stack([color, shape, pos, big], axis=1).astype(np.int64),
    }
