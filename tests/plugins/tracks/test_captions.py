"""captions: the real hub loader, exercised offline on a local parquet fixture in the hub layout."""

import re
from pathlib import Path

import numpy as np
import pytest

from plugins.tracks.captions import CAPTIONS_HUB, load_caption_rows


def test_caption_rows_from_parquet(tmp_path: Path, offline, png):
    datasets = pytest.importorskip("datasets")
    imgs = np.random.default_rng(1).integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8)
    table = datasets.Dataset.from_dict(
        {"image": [{"bytes": png(a), "path": None} for a in imgs], "caption_0": ["A dog runs .", "Two kids play", "A red car"]}
    ).cast_column("image", datasets.Image())
    (tmp_path / "data").mkdir()
    table.to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    d = load_caption_rows(str(tmp_path), None, image_column="image", caption_column="caption_0", size=4, limit=2, cache_dir=str(tmp_path / "c"))
    assert d["image"].shape == (2, 3, 4, 4) and d["caption"] == ["a dog runs .", "two kids play"]


def test_hub_source_is_pinned():
    assert CAPTIONS_HUB["repo_id"] == "jxie/flickr8k" and re.fullmatch(r"[0-9a-f]{40}", CAPTIONS_HUB["revision"])
