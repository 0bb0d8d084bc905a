"""Evaluation scenarios beyond the default non-members: out-of-distribution and neighbour non-members.

* ``ood`` (Hintersdorf et al., IJCAI 2022): images of another dataset, resized to the track's input shape.
  Overconfident networks make threshold attacks flag them as members.
* ``neighbours`` (the discredibility setting, Rezaei & Liu): small perturbations of members — a little
  Gaussian noise — that the target never trained on; ``shifted``: the same plus a 1-pixel shift (a
  larger step away from the member for targets trained without shift augmentation).
* ``generated`` (the GAN-fake case of Hintersdorf et al.): samples of a generative model fitted on the population
  only (:func:`generated`).

On pool-design tracks the harness reads every ``fpr_<set>`` at its own thresholds (``bench._pool_cell``), and OOD
points carry the target's predicted label as their claimed label.

Tracks build the sets that copy no member (``Track.extra_nonmembers``, on a split that shows no membership); the
harness makes ``neighbours`` and ``shifted`` itself, with decoys (:func:`member_copies`). The runner scores them by calling the attack again on
a second context whose candidates are the union of the sets, shuffled (the attack cannot tell it is a
scenario), and records each set's FPR at the attack's own shadow-calibrated threshold:
``fpr_<set>`` with a Clopper–Pearson ``fpr_<set>_ci``, next to ``fpr_nonmembers`` (ordinary non-members).
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np

from ._api import Candidates

__all__ = ["resize_images", "neighbours", "generated", "GENERATED_SOURCE", "combine", "scenario_sha256", "fpr_metrics", "scenario_points", "member_copies", "blind_split", "DECOY"]

GENERATED_SOURCE = "class-conditional Gaussian in a PCA space fitted on the population only"


def resize_images(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an (N, C, H, W) batch to (N, C, *shape): block averages when shrinking by an integer factor,
    bilinear interpolation otherwise."""
    x = np.asarray(x, dtype=np.float32)
    n, c, h, w = x.shape
    th, tw = shape
    if (h, w) == (th, tw):
        return x.copy()
    if h % th == 0 and w % tw == 0:
        return x.reshape(n, c, th, h // th, tw, w // tw).mean(axis=(3, 5))
    from scipy.ndimage import zoom

    return zoom(x, (1, 1, th / h, tw / w), order=1).astype(np.float32)


def neighbours(x: np.ndarray, rng: np.random.Generator, shift: int = 1, noise: float = 0.1) -> np.ndarray:
    """Near-copies of an (N, C, H, W) batch: each rolled by ``shift`` px in a random direction (0: no
    shift), plus Gaussian noise of ``noise`` × the batch's standard deviation."""
    x = np.asarray(x, dtype=np.float32)
    out = x.copy()
    dirs = np.array([(shift, 0), (-shift, 0), (0, shift), (0, -shift)])
    pick = rng.integers(0, len(dirs), size=len(x)) if shift else np.full(len(x), -1)
    for d, (dy, dx) in enumerate(dirs):
        m = pick == d
        out[m] = np.roll(x[m], (dy, dx), axis=(-2, -1))
    return (out + rng.normal(0.0, noise * float(x.std()), size=x.shape)).astype(np.float32)


def generated(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator, components: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic images and their class, sampled from a generative model fitted on (x, y) alone: a PCA of the
    images, then one Gaussian per class over the PCA coefficients (the GAN-fake case of Hintersdorf et al. at CPU
    scale: non-members that resemble the distribution, never a copy of a member)."""
    from sklearn.decomposition import PCA

    x = np.asarray(x, dtype=np.float32)
    flat = x.reshape(len(x), -1)
    k = int(min(components, flat.shape[1], len(flat) - 1))
    pca = PCA(n_components=k, random_state=int(rng.integers(2**31))).fit(flat)
    z = pca.transform(flat)
    classes = np.unique(y)
    labels = rng.choice(classes, size=n)
    out = np.empty((n, k))
    for c in classes:
        zc = z[y == c]
        cov = np.cov(zc, rowvar=False) + 1e-6 * np.eye(k) if len(zc) > 1 else np.eye(k) * 1e-6
        out[labels == c] = rng.multivariate_normal(zc.mean(axis=0), cov, size=int((labels == c).sum()))
    images = np.clip(pca.inverse_transform(out), flat.min(), flat.max()).astype(np.float32)
    return images.reshape((n,) + x.shape[1:]), labels.astype(np.asarray(y).dtype)


MEMBER_COPIES = (("neighbours", 0), ("shifted", 1))  # (set, shift in px): made by the harness (``member_copies``)
DECOY = "decoy-"  # the same copies of non-members: scored with the others, never reported


def blind_split(split: Any) -> Any:
    """``split`` as a track's ``extra_nonmembers`` gets it: every candidate a "member", no non-member. A set a track
    makes from it therefore depends on no membership, whatever the track does with it."""
    from ._track import Split

    cands = np.sort(np.asarray(split.candidates))
    return Split(cands, cands[:0], split.population, cands)


def member_copies(track: Any, data: Any, split: Any) -> tuple[Candidates, np.ndarray] | None:
    """``neighbours`` and ``shifted`` for image classification tracks, and each copy's set name (harness use only).

    Copies are made of a sample of the candidates drawn without regard to membership (up to 2 × ``scenario_size``),
    with one generator and one noise scale, in the sample's order: the copies of members are the reported sets, the
    others their decoys (``DECOY`` + name). Only the names depend on membership, and they stay with the harness.
    (Copies of members alone named the members to the run that scored them; decoys made by a second call with the same
    noise stream could be paired with the members' copies and told apart by their noise scale: a reviewer's attack read
    the membership both ways and carried it to another cell's run against the same target through the page cache.)"""
    if not _image_classification(track, data):
        return None
    cands = np.sort(np.asarray(split.candidates))
    rng = np.random.default_rng([int(track.split_seed), 0xC0B1E5])
    pick = np.sort(rng.choice(cands, min(2 * int(track.scenario_size), len(cands)), replace=False))
    base = track.candidates(data, pick)
    fields = {f: getattr(base, f) for f in base.fields}
    member = np.isin(pick, np.asarray(split.members))
    copies, names = [], []
    for name, shift in MEMBER_COPIES:
        copies.append(Candidates(**{**fields, "x": neighbours(base.x, rng, shift=shift)}))
        names.append(np.where(member, name, DECOY + name).astype(object))
    return Candidates.concat(copies), np.concatenate(names)


def scenario_points(track: Any, data: Any, split: Any, seed: int, relabel_ood: Any = None) -> tuple[Candidates, np.ndarray] | None:
    """Every scenario point as one shuffled list, and each point's set name (harness use only): the track's sets
    (``Track.extra_nonmembers`` on :func:`blind_split`) and :func:`member_copies`. The points, and their order, are
    the same whatever the membership. ``relabel_ood``: the target's labels for OOD inputs (their claimed label)."""
    sets = dict(track.extra_nonmembers(data, blind_split(split)))
    made = sorted(n for n in sets if n in dict(MEMBER_COPIES) or n.startswith(DECOY))
    if made:
        raise ValueError(f"track {track.name!r} returns {made} from extra_nonmembers: the harness makes the copies of members "
                         f"itself (bench.scenarios.member_copies); drop them from the track")
    if relabel_ood is not None and "ood" in sets and "y" in sets["ood"].fields:
        ood = sets["ood"]
        sets["ood"] = Candidates(**{**{f: getattr(ood, f) for f in ood.fields},
                                    "y": np.asarray(relabel_ood(ood.x)).astype(np.asarray(ood.y).dtype)})
    copies = member_copies(track, data, split)
    if not sets and copies is None:
        return None
    return combine(sets, seed, labelled=copies)


def _image_classification(track: Any, data: Any) -> bool:
    from ._api import Task

    shape = getattr(track, "input_shape", None)
    return Task(track.task) is Task.CLASSIFICATION and shape is not None and len(shape) == 3 and "x" in data.fields


def combine(sets: Mapping[str, Candidates], seed: int, labelled: tuple[Candidates, np.ndarray] | None = None
            ) -> tuple[Candidates, np.ndarray]:
    """All sets, then ``labelled`` (points with a set name each), as one shuffled candidate list, and the set name of
    each entry (harness use only)."""
    names = sorted(sets)
    parts = [sets[k] for k in names] + ([labelled[0]] if labelled else [])
    allc = Candidates.concat(parts)
    group = np.concatenate([np.full(len(sets[k]), k, dtype=object) for k in names] + ([labelled[1]] if labelled else []))
    order = np.random.default_rng([int(seed), 0x0D]).permutation(len(allc))
    return allc[order], group[order]


def scenario_sha256(split_sha256: str, candidates: Candidates) -> str:
    """Content key of a scenario's data (shadow models trained on it are cached under it)."""
    h = hashlib.sha256(split_sha256.encode())
    for f in candidates.fields:
        h.update(np.ascontiguousarray(getattr(candidates, f)).tobytes())
    return h.hexdigest()


def fpr_metrics(scores: np.ndarray, group: np.ndarray, threshold: float) -> dict[str, object]:
    """``fpr_<set>`` and ``fpr_<set>_ci`` (Clopper–Pearson) for each set: every entry is a non-member."""
    from .metrics import clopper_pearson

    out: dict[str, object] = {}
    for name in sorted(set(group.tolist())):
        s = np.asarray(scores)[group == name]
        k = int(np.count_nonzero(s >= threshold))
        out[f"fpr_{name}"] = k / len(s)
        out[f"fpr_{name}_ci"] = list(clopper_pearson(k, len(s)))
    return out
