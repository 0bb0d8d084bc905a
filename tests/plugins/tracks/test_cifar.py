"""cifar10/cifar100: the original python tarball from --data-dir; the recipe is a track option folded into the version."""

import io
import pickle
import tarfile

import numpy as np
import pytest

from bench._plugins import load_plugins

_, REGISTRY = load_plugins()


def _write_cifar10(tmp_path, n=4):
    root = "cifar-10-batches-py"
    rng = np.random.default_rng(0)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        def add(name, obj):
            blob = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for i in range(1, 6):
            add(f"data_batch_{i}", {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [i % 10] * n})
        add("test_batch", {b"data": np.full((n, 3072), 255, dtype=np.uint8), b"labels": [9] * n})
        add("batches.meta", {b"label_names": [b"x"] * 10})
    return archive


def test_cifar10_track_loads_the_original_tarball_from_data_dir(tmp_path):
    _write_cifar10(tmp_path)
    track = REGISTRY.track("cifar10")
    track.data_dir = str(tmp_path)
    data = track.load()
    assert data.x.shape == (24, 3, 32, 32) and data.y.tolist()[:4] == [1, 1, 1, 1] and data.y[-1] == 9
    # test images are all-white: normalized per channel with CIFAR's mean/std
    np.testing.assert_allclose(data.x[-1, :, 0, 0], (1 - np.array([0.4914, 0.4822, 0.4465])) / np.array([0.2470, 0.2435, 0.2616]), rtol=1e-5)
    with pytest.raises(ValueError, match="split needs 60000 units but the data has 24"):
        track.split(data)


def test_cifar_recipe_is_a_track_option_folded_into_the_version():
    track = REGISTRY.track("cifar10")
    assert track.recipe.arch == "cnn" and track.version == "2"
    track.configure(recipe="airbench")
    assert track.recipe.arch == "airbench" and track.recipe.batch_size == 1024
    assert track.version != "2" and "airbench" in track.version  # distinct run ids and cache keys
    track.configure(recipe="wrn-28-2")
    assert (track.recipe.arch, track.recipe.epochs) == ("wrn", 100)
    track.configure(recipe="resnet")
    with pytest.raises(ValueError, match="no recipe 'resnet'"):
        track.recipe
