"""faces: the real hub loader, exercised offline on a local parquet fixture in the hub layout; synthetic-faces' units are identities."""

import re
from pathlib import Path

import numpy as np
import pytest

from plugins.tracks.faces import FACES_HUB, load_face_rows


def test_face_rows_from_parquet(tmp_path: Path, offline, png):
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(0)
    labels = [0, 1, 0, 2, 0, 1, 1]  # identity 2 has one image only
    imgs = rng.integers(0, 256, size=(len(labels), 10, 10, 3), dtype=np.uint8)
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["Ada_Lovelace", "Alan_Turing", "Grace_Hopper"])})
    table = datasets.Dataset.from_dict({"image": [{"bytes": png(a), "path": None} for a in imgs], "label": labels}, features=feats)
    (tmp_path / "data").mkdir()
    table.to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    d = load_face_rows(str(tmp_path), FACES_HUB["revision"], image_column="image", label_column="label", min_images=2, size=4, cache_dir=str(tmp_path / "c"))
    assert d["names"] == ["Ada Lovelace", "Alan Turing"]
    assert d["image"].shape == (4, 3, 4, 4) and d["image"].dtype == np.float32
    assert d["identity"].tolist() == [0, 1, 0, 1] and d["view"].tolist() == [0, 0, 1, 1]
    assert -1.0 <= d["image"].min() and d["image"].max() <= 1.0
    with pytest.raises(ValueError, match="no column 'person'"):
        load_face_rows(str(tmp_path), None, image_column="image", label_column="person", min_images=2, size=4, cache_dir=str(tmp_path / "c"))


def test_hub_source_is_pinned():
    assert re.fullmatch(r"[0-9a-f]{40}", FACES_HUB["revision"])


def test_synthetic_faces_units_are_identities():
    from plugins.tracks.faces import SyntheticFaces

    t = SyntheticFaces()
    data = t.load()
    split = t.split(data)
    rows = t.training_rows(data, split.members)
    ident, view = np.asarray(data.identity), np.asarray(data.view)
    trained = set(ident[rows].tolist())
    assert set(split.members.tolist()) <= trained and not trained & set(split.nonmembers.tolist())
    assert (view[rows] < t.train_views).all()  # query images are never trained on
    for u in split.members[:10]:
        assert (ident[rows] == u).sum() == t.occurrences(int(u))
    c = t.candidates(data, split.candidates[:3])
    assert c.images.shape == (3, 8, 3, 16, 16) and len(c.name) == 3
