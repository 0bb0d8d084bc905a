"""ssl-encoder tracks: images-only candidates, SimCLR views, linear-probe utility."""

import numpy as np
import pytest
import torch

from plugins.tracks._ssl_model import simclr_views
from plugins.tracks.ssl_encoder import SslEncoderDigits, SslEncoderTrack


@pytest.fixture(scope="module")
def digits():
    track = SslEncoderDigits()
    data = track.load()
    return track, data, track.split(data)


def test_candidates_are_images_only(digits):
    track, data, split = digits
    c = track.candidates(data, split.candidates[:5])
    assert c.fields == ("x",) and c.x.shape == (5, 1, 8, 8)
    info = track.info(data, split)
    assert info.num_classes is None and info.extra["augmentation"] == track.augmentation and str(info.task) == "representation"


def test_probe_images_lie_outside_the_split(digits):
    track, data, split = digits
    used = np.concatenate([split.members, split.nonmembers, split.population])
    assert used.max() < track.num_units(data) <= len(data) - sum(track.probe_sizes)


def _write_fashion_idx(root, n_train, n_test):
    """Fashion-MNIST's four IDX files (uncompressed) with random 28x28 images; returns the images."""
    import struct

    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
        out[prefix] = images
    return out


def test_fashion_images_are_averaged_to_14x14(tmp_path):
    track = SslEncoderTrack()
    need = sum(track.split_sizes.values()) + sum(track.probe_sizes)
    images = _write_fashion_idx(tmp_path, need - 10, 10)
    track.data_dir = str(tmp_path)
    data = track.load()
    assert data.x.shape == (need, 1, 14, 14) and data.x.dtype == np.float32
    every = np.concatenate([images["train"], images["t10k"]]).astype(np.float32) / 255.0
    pooled = every.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
    assert np.allclose(np.sort(data.x[:, 0].reshape(need, -1).sum(1)), np.sort(pooled.reshape(need, -1).sum(1)), atol=1e-3)
    small = SslEncoderTrack()
    small.data_dir = str(_write_fashion_idx_dir(tmp_path / "small"))
    with pytest.raises(ValueError, match="needs"):
        small.load()


def _write_fashion_idx_dir(root):
    root.mkdir()
    _write_fashion_idx(root, 20, 10)
    return root


def test_simclr_views_are_seeded_in_range_and_differ():
    x = torch.rand(16, 1, 14, 14)
    spec = SslEncoderTrack.augmentation
    a = simclr_views(x, spec, torch.Generator().manual_seed(0))
    b = simclr_views(x, spec, torch.Generator().manual_seed(0))
    c = simclr_views(x, spec, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    same = simclr_views(x, {"min_scale": 1.0, "hf_prob": 1.0, "cj_prob": 0.0}, torch.Generator().manual_seed(0))
    assert torch.corrcoef(torch.stack([same.flip(-1).flatten(), x.flatten()]))[0, 1] > 0.5  # mirrored, nearly whole


@pytest.mark.slow
def test_encoder_trains_and_linear_probe_beats_chance(tmp_path):
    from bench._runner import Cell
    from bench.testing import make_session

    session = make_session(cache_dir=tmp_path)
    target = session.target(Cell("ssl-encoder-digits", "none", "encodermi", 0, "smoke"))
    assert target["error"] is None
    assert target["utility"]["test_accuracy"] > 0.8  # 10 classes: chance is 0.1
    assert target["utility"]["linear_probe_accuracy"] == target["utility"]["test_accuracy"]
