"""tools/gpu_cifar_tier.py: the generated CIFAR-shaped archive loads through cifar10's own tarball loader."""

import importlib.util
from pathlib import Path

import numpy as np

from bench._plugins import load_plugins

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "gpu_cifar_tier.py"


def _tool():
    spec = importlib.util.spec_from_file_location("gpu_cifar_tier", _TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_synthetic_archive_loads_as_cifar10_with_learnable_classes(tmp_path):
    _tool().write_synthetic_cifar10(tmp_path, n_train=500, n_test=100)
    track = load_plugins()[1].track("cifar10")
    track.data_dir = str(tmp_path)
    data = track.load()
    assert data.x.shape == (600, 3, 32, 32) and set(np.unique(data.y)) == set(range(10))
    # classes differ in their mean image (templates), so a model can learn them; labels are ~10 % flipped
    means = np.stack([data.x[data.y == k].mean(0).ravel() for k in range(10)])
    spread = np.linalg.norm(means - means.mean(0), axis=1).mean()
    noise = np.linalg.norm(data.x[:50].reshape(50, -1) - data.x[50:100].reshape(50, -1), axis=1).mean() / np.sqrt(2 * 600 / 10)
    assert spread > 3 * noise
