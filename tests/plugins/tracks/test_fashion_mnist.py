"""fashion-mnist: read from Debian's IDX files, normalized, split as the track declares."""

import numpy as np

from bench._plugins import load_plugins


def test_fashion_mnist_reads_debian_idx_files():
    track = load_plugins()[1].track("fashion-mnist")
    data = track.load()
    assert data.x.shape == (70000, 1, 28, 28) and data.x.dtype == np.float32
    assert abs(float(data.x[:5000].mean())) < 0.1  # normalized
    split = track.split(data)
    assert len(split.members) == 5000 and len(split.population) == 10000
