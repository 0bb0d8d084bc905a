"""The real faces/captions hub loaders, exercised offline on local parquet fixtures in the hub layout."""

import io
import re
from pathlib import Path

import numpy as np
import pytest

from plugins.tracks.captions import CAPTIONS_HUB, load_caption_rows
from plugins.tracks.faces import FACES_HUB, load_face_rows


def _png(a):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_face_rows_from_parquet(tmp_path: Path, offline):
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(0)
    labels = [0, 1, 0, 2, 0, 1, 1]  # identity 2 has one image only
    imgs = rng.integers(0, 256, size=(len(labels), 10, 10, 3), dtype=np.uint8)
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["Ada_Lovelace", "Alan_Turing", "Grace_Hopper"])})
    table = datasets.Dataset.from_dict({"image": [{"bytes": _png(a), "path": None} for a in imgs], "label": labels}, features=feats)
    (tmp_path / "data").mkdir()
    table.to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    d = load_face_rows(str(tmp_path), FACES_HUB["revision"], image_column="image", label_column="label", min_images=2, size=4, cache_dir=str(tmp_path / "c"))
    assert d["names"] == ["Ada Lovelace", "Alan Turing"]
    assert d["image"].shape == (4, 3, 4, 4) and d["image"].dtype == np.float32
    assert d["identity"].tolist() == [0, 1, 0, 1] and d["view"].tolist() == [0, 0, 1, 1]
    assert -1.0 <= d["image"].min() and d["image"].max() <= 1.0
    with pytest.raises(ValueError, match="no column 'person'"):
        load_face_rows(str(tmp_path), None, image_column="image", label_column="person", min_images=2, size=4, cache_dir=str(tmp_path / "c"))


def test_caption_rows_from_parquet(tmp_path: Path, offline):
    datasets = pytest.importorskip("datasets")
    imgs = np.random.default_rng(1).integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8)
    table = datasets.Dataset.from_dict(
        {"image": [{"bytes": _png(a), "path": None} for a in imgs], "caption_0": ["A dog runs .", "Two kids play", "A red car"]}
    ).cast_column("image", datasets.Image())
    (tmp_path / "data").mkdir()
    table.to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    d = load_caption_rows(str(tmp_path), None, image_column="image", caption_column="caption_0", size=4, limit=2, cache_dir=str(tmp_path / "c"))
    assert d["image"].shape == (2, 3, 4, 4) and d["caption"] == ["a dog runs .", "two kids play"]


def test_hub_sources_are_pinned():
    assert re.fullmatch(r"[0-9a-f]{40}", FACES_HUB["revision"])
    assert CAPTIONS_HUB["repo_id"] == "jxie/flickr8k" and re.fullmatch(r"[0-9a-f]{40}", CAPTIONS_HUB["revision"])
