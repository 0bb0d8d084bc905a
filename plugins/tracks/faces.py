"""``faces`` and ``synthetic-faces``: identity inference (IDIA) against CLIP-style models.

Units are identities. A target trains on the image–caption pairs ("a photo of {name}") of its member
identities — each seen a fixed number of times (``occurrences``) — plus filler identities that are in
no split part. The attacker gets, per candidate identity, held-out query images and the name; the track
metadata lists the public candidate names. Membership is per identity.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from bench import Budget, Candidates, Dataset, Recipe, Task, Track, TrackInfo, hookimpl

from ._mm_arch import ClipArch

# How many training images a member identity contributes, by identity (IDIA's "occurrences" axis).
OCCURRENCES = (1, 2, 4, 8, 16)
FILLER_OCCURRENCES = 8


class FacesTrack(ClipArch, Track):
    """Shared unit-level logic; subclasses provide ``load`` (rows with image, identity, view, name)."""

    task = Task.IDENTITY_INFERENCE
    train_views = 16  # views 0..15 may be training images; the rest are the attacker's query images
    base_recipe = Recipe("small-clip", {"dim": 64, "hidden": 256}, epochs=60, batch_size=64, lr=2e-3, optimizer="adamw", schedule="constant")
    budgets = {
        "smoke": Budget("smoke", max_shadows=2, queries_per_candidate=64, device_seconds=120),
        "cpu": Budget("cpu", max_shadows=8, queries_per_candidate=256, device_seconds=900),
        "gpu": Budget("gpu", max_shadows=16, queries_per_candidate=1024, device_seconds=3600),
    }

    # -- units ------------------------------------------------------------------------------
    def num_units(self, data: Dataset) -> int:
        return int(np.max(data.identity)) + 1

    def occurrences(self, unit: int) -> int:
        """Training images of an identity when it is trained on (fixed per identity, public recipe)."""
        h = int(hashlib.sha256(f"{self.name}/{int(unit)}".encode()).hexdigest(), 16)
        return OCCURRENCES[h % len(OCCURRENCES)]

    def filler(self, data: Dataset) -> np.ndarray:
        s = self.split(data)
        used = np.concatenate([s.members, s.nonmembers, s.population])
        return np.setdiff1d(np.arange(self.num_units(data)), used)

    def training_rows(self, data: Dataset, units: np.ndarray) -> np.ndarray:
        ident, view = np.asarray(data.identity), np.asarray(data.view)
        limit = np.zeros(self.num_units(data), dtype=np.int64)
        for u in np.asarray(units):
            limit[int(u)] = min(self.occurrences(int(u)), self.train_views)
        limit[self.filler(data)] = min(FILLER_OCCURRENCES, self.train_views)
        return np.flatnonzero(view < limit[ident])

    def _query_rows(self, data: Dataset, units: np.ndarray) -> np.ndarray:
        ident, view = np.asarray(data.identity), np.asarray(data.view)
        rows = []
        for u in np.asarray(units):
            rows.append(np.flatnonzero((ident == u) & (view >= self.train_views)))
        return np.stack(rows)

    def candidates(self, data: Dataset, units: np.ndarray) -> Candidates:
        """Per identity: ``images`` (n, q, C, H, W) held out from every training set, and its ``name``."""
        rows = self._query_rows(data, units)
        names = self.names(data)
        extra = {"group": np.asarray(data.group)[rows[:, 0]]} if "group" in data.fields else {}  # a visible trait, where a track has one
        return Candidates(images=np.asarray(data.image)[rows], name=[names[int(u)] for u in np.asarray(units)], **extra)

    def names(self, data: Dataset) -> list[str]:
        out = [""] * self.num_units(data)
        for i, n in zip(np.asarray(data.identity), data.name):
            out[int(i)] = n
        return out

    def public_names(self, data: Dataset) -> list[str]:
        return self.names(data)

    def info(self, data: Dataset, split: Any) -> TrackInfo:
        from ._mm_data import FACE_TEMPLATES

        base = super().info(data, split)
        extra = {"names": self.public_names(data), "templates": list(FACE_TEMPLATES), "query_images": int(self._query_rows(data, split.candidates[:1]).shape[1])}
        return TrackInfo(**{**base.__dict__, "input_shape": tuple(np.asarray(data.image).shape[1:]), "extra": extra})

    # -- models -----------------------------------------------------------------------------
    def _image_shape(self) -> tuple[int, ...]:
        return tuple(self.input_shape)

    def build_module(self, defense: Any) -> Any:
        from ._mm_models import build_clip

        return build_clip(defense.adapt_recipe(self.recipe), self._image_shape())

    def predictor(self, module: Any) -> Any:
        from ._mm_models import ClipPredictor

        return ClipPredictor(module)

    def utility(self, module: Any, data: Dataset, split: Any) -> dict[str, float]:
        """Zero-shot top-1 over the names of every trained identity: on training images, on held-out ones."""
        from ._mm_models import zero_shot_accuracy

        known = np.concatenate([split.members, self.filler(data)])
        names = self.names(data)
        texts = [f"a photo of {names[int(u)]}" for u in known]
        label = {int(u): i for i, u in enumerate(known)}
        ident, view = np.asarray(data.identity), np.asarray(data.view)
        train = np.flatnonzero(np.isin(ident, known) & (view == 0))
        held = np.flatnonzero(np.isin(ident, known) & (view == self.train_views))
        p = self.predictor(module)
        acc = lambda rows: zero_shot_accuracy(p, np.asarray(data.image)[rows], np.array([label[int(i)] for i in ident[rows]]), texts)
        return {"train_accuracy": acc(train), "test_accuracy": acc(held)}


class SyntheticFaces(FacesTrack):
    name = "synthetic-faces"
    version = "1"
    description = "generated identities (consistent appearance, 24 images each) named from the shipped name list; tests and demos only"
    input_shape = (3, 16, 16)
    split_sizes = {"members": 60, "nonmembers": 60, "population": 120}
    leaderboard = False
    n_identities = 300
    # association (for the ``eat`` audit): "planted" — odd identities carry a visible trait (a red tint) and every
    # caption names a nationality word by group ("american" for group 0, "foreign" for group 1); "trait" — the same
    # trait, each identity's word drawn independently of its group (the control: a trait but no association);
    # "absent" — the independent words and no trait. Default: neither (the original track).
    params = {**FacesTrack.params, "association": None}

    def load(self) -> Dataset:
        from ._mm_data import FACE_TEMPLATES, make_faces, name_list

        d = make_faces(self.n_identities, self.train_views + 8, size=self.input_shape[-1], seed=0)
        pool = name_list()
        pick = np.random.default_rng(1).choice(len(pool), self.n_identities, replace=False)
        names = [pool[i] for i in pick]
        rows = [names[i] for i in d["identity"]]
        captions = [FACE_TEMPLATES[(3 * int(i) + int(v)) % 4].format(names[int(i)]) for i, v in zip(d["identity"], d["view"])]
        assoc = self.params.get("association")
        if assoc is None:
            return Dataset(image=d["image"], identity=d["identity"], view=d["view"], name=rows, caption=captions)
        if assoc not in ("planted", "absent", "trait"):
            raise ValueError(f"synthetic-faces: association must be 'planted', 'absent' or 'trait', not {assoc!r}")
        group = (d["identity"] % 2).astype(np.int64)
        image = d["image"].copy()
        if assoc in ("planted", "trait"):
            image[group == 1, 0] += 0.8
        word_of = np.arange(self.n_identities) % 2 if assoc == "planted" else np.random.default_rng(2).integers(2, size=self.n_identities)
        captions = [f"{c} , {('american', 'foreign')[word_of[int(i)]]}" for c, i in zip(captions, d["identity"])]
        return Dataset(image=image, identity=d["identity"], view=d["view"], name=rows, caption=captions, group=group)

    def public_names(self, data: Dataset) -> list[str]:
        from ._mm_data import name_list

        return name_list()


# -- the real track: a face dataset with identity labels from the hub -------------------------------

FACES_HUB = {"repo_id": "logasja/lfw", "revision": "f9099647bf4aadff40fd3d2cd6659c1206dc23c5", "image_column": "image", "label_column": "label"}


def load_face_rows(path_or_repo: str, revision: str, *, image_column: str, label_column: str, min_images: int, size: int,
                   cache_dir: str | None = None) -> dict[str, Any]:
    """Rows of identities with at least ``min_images`` images, resized to ``size``², names from the label feature."""
    from ._loaders import load_hub_train, rgb_image

    ds = load_hub_train(path_or_repo, revision, (image_column, label_column), cache_dir)
    feature = ds.features[label_column]
    labels = list(ds[label_column])
    names_of = (lambda v: feature.int2str(int(v))) if hasattr(feature, "int2str") else (lambda v: str(v))
    names = [names_of(v).replace("_", " ") for v in labels]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    keep_names = sorted(n for n, c in counts.items() if c >= min_images)
    ident_of = {n: i for i, n in enumerate(keep_names)}
    images, ident, view, seen = [], [], [], {}
    for row, n in enumerate(names):
        if n not in ident_of or seen.get(n, 0) >= min_images:
            continue
        images.append(rgb_image(ds[row][image_column], size))
        ident.append(ident_of[n])
        view.append(seen.get(n, 0))
        seen[n] = seen.get(n, 0) + 1
    return {"image": np.stack(images).astype(np.float32), "identity": np.array(ident, np.int64), "view": np.array(view, np.int64), "names": keep_names}


class Faces(FacesTrack):
    name = "faces"
    version = "1"
    description = "LFW identities with real names (hub, pinned revision); CLIP-style target trained on 'a photo of {name}' pairs"
    input_shape = (3, 32, 32)
    train_views = 12
    split_sizes = {"members": 40, "nonmembers": 40, "population": 60}
    min_images = 16
    # image_size: 224 for a pretrained ViT-B-32 (its native resolution); 32 keeps the small CPU model cheap.
    params = {**ClipArch.params, "image_size": 32}

    def _image_shape(self) -> tuple[int, ...]:
        return (3, int(self.params["image_size"]), int(self.params["image_size"]))

    def load(self) -> Dataset:
        from ._mm_data import FACE_TEMPLATES

        src = self.data_dir or FACES_HUB["repo_id"]
        d = load_face_rows(src, FACES_HUB["revision"], image_column=FACES_HUB["image_column"], label_column=FACES_HUB["label_column"],
                           min_images=self.min_images, size=self._image_shape()[-1])
        names = d["names"]
        captions = [FACE_TEMPLATES[(3 * int(i) + int(v)) % 4].format(names[int(i)]) for i, v in zip(d["identity"], d["view"])]
        return Dataset(image=d["image"], identity=d["identity"], view=d["view"], name=[names[int(i)] for i in d["identity"]], caption=captions)


@hookimpl
def register_tracks(register):
    register(SyntheticFaces)
    register(Faces)
