"""Tests for plugins.tracks._loaders, on tiny fixtures written in the original file formats."""

from __future__ import annotations

import gzip
import io
import pickle
import re
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from plugins.tracks import _loaders
from plugins.tracks._loaders import (
    DEBIAN_FASHION_MNIST,
    HUB,
    ArraySplits,
    load_cifar_tarball,
    load_hub,
    load_idx_dir,
)

# ---------------------------------------------------------------------------------------------
# IDX fixtures
# ---------------------------------------------------------------------------------------------

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Serialise a uint8 array as an IDX file: big-endian magic, big-endian dims, raw bytes."""
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_dir(root: Path, *, gz: bool = True, n_train: int = 3, n_test: int = 2) -> dict[str, np.ndarray]:
    """Write the four Fashion-MNIST files with 4x5 images whose pixels encode (image, row, col)."""
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n, offset in (("train", n_train, 0), ("t10k", n_test, 100)):
        i, r, c = np.meshgrid(np.arange(n), np.arange(4), np.arange(5), indexing="ij")
        arrays[f"{prefix}-images"] = (offset + 20 * i + 5 * r + c).astype(np.uint8)
        arrays[f"{prefix}-labels"] = ((np.arange(n) + offset) % 10).astype(np.uint8)
    for name, array in arrays.items():
        kind, magic = ("idx3", IMAGES_MAGIC) if name.endswith("images") else ("idx1", LABELS_MAGIC)
        payload = idx_bytes(array, magic)
        file = root / f"{name}-{kind}-ubyte"
        if gz:
            file.with_name(file.name + ".gz").write_bytes(gzip.compress(payload))
        else:
            file.write_bytes(payload)
    return arrays


def _check_idx(splits: ArraySplits, arrays: dict[str, np.ndarray]) -> None:
    assert splits.x_train.shape == (3, 1, 4, 5) and splits.x_test.shape == (2, 1, 4, 5)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    # Pixel (image 2, row 3, col 4) of the training set is 20*2 + 5*3 + 4.
    assert splits.x_train[2, 0, 3, 4] == 59
    np.testing.assert_array_equal(splits.x_train[:, 0], arrays["train-images"])
    np.testing.assert_array_equal(splits.x_test[:, 0], arrays["t10k-images"])
    assert splits.y_train.tolist() == [0, 1, 2]
    assert splits.y_test.tolist() == [0, 1]


def test_idx_gzipped_round_trip(tmp_path: Path) -> None:
    arrays = write_idx_dir(tmp_path)
    _check_idx(load_idx_dir(tmp_path), arrays)


def test_idx_uncompressed_round_trip(tmp_path: Path) -> None:
    arrays = write_idx_dir(tmp_path, gz=False)
    _check_idx(load_idx_dir(str(tmp_path)), arrays)


def test_idx_missing_file_is_named(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_idx_dir(tmp_path)


def test_idx_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_idx_dir(tmp_path / "nowhere")


def test_idx_truncated_gzip(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    file = tmp_path / "train-images-idx3-ubyte.gz"
    file.write_bytes(file.read_bytes()[:-12])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*truncated or corrupt gzip"):
        load_idx_dir(tmp_path)


def test_idx_wrong_magic(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    labels = np.zeros(3, np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, LABELS_MAGIC)))
    message = r"train-images-idx3-ubyte\.gz: IDX magic number is 0x00000801, expected 0x00000803"
    with pytest.raises(ValueError, match=message):
        load_idx_dir(tmp_path)


def test_idx_payload_shorter_than_header_declares(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    payload = idx_bytes(np.zeros((3, 4, 5), np.uint8), IMAGES_MAGIC)[:-20]  # one image short
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(payload))
    message = r"train-images-idx3-ubyte\.gz: header declares shape \(3, 4, 5\) \(60 bytes.*holds 40"
    with pytest.raises(ValueError, match=message):
        load_idx_dir(tmp_path)


def test_idx_header_cut_short(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: 3 bytes is shorter"):
        load_idx_dir(tmp_path)


def test_idx_label_count_must_match_images(tmp_path: Path) -> None:
    write_idx_dir(tmp_path)
    five_labels = idx_bytes(np.zeros(5, np.uint8), LABELS_MAGIC)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(five_labels))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: 5 labels for 2 images"):
        load_idx_dir(tmp_path)


@pytest.mark.skipif(
    not Path(DEBIAN_FASHION_MNIST).is_dir(), reason="Debian fashion-mnist package not installed"
)
def test_debian_fashion_mnist_files() -> None:
    splits = load_idx_dir(DEBIAN_FASHION_MNIST)
    assert splits.x_train.shape == (60000, 1, 28, 28) and splits.x_train.dtype == np.uint8
    assert splits.x_test.shape == (10000, 1, 28, 28)
    assert splits.y_train.shape == (60000,) and splits.y_test.shape == (10000,)
    assert splits.y_train.dtype == np.int64
    assert set(np.unique(splits.y_train)) == set(range(10)) == set(np.unique(splits.y_test))
    assert splits.x_train.max() > 200  # real pixels, not an all-zero placeholder


# ---------------------------------------------------------------------------------------------
# CIFAR python-version archives
# ---------------------------------------------------------------------------------------------

CIFAR_LAYOUT = {
    "cifar10": (
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "batches.meta",
    ),
    "cifar100": ("cifar-100-python.tar.gz", "cifar-100-python", ["train"], ["test"], "meta"),
}


def cifar_rows(n: int, seed: int) -> np.ndarray:
    """N x 3072 uint8 rows with one planted pixel per image: channel 1, row 2, col 3 = 200 + i."""
    data = np.random.default_rng(seed).integers(0, 200, size=(n, 3072), dtype=np.uint8)
    for i in range(n):
        data[i, 1 * 1024 + 2 * 32 + 3] = 200 + i
    return data


def write_cifar(
    root: Path, variant: str, *, per_batch: int = 2, omit: str | None = None
) -> dict[str, np.ndarray]:
    """Write a tiny archive in the original layout; return the concatenated rows and labels."""
    archive, folder, train, test, meta = CIFAR_LAYOUT[variant]
    rows: dict[str, list] = {"train": [], "test": [], "y_train": [], "y_test": []}
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / archive, "w:gz") as tar:
        for index, name in enumerate(train + test):
            split = "train" if name in train else "test"
            data = cifar_rows(per_batch, seed=index)
            labels = [(7 * index + j) % (10 if variant == "cifar10" else 100) for j in range(per_batch)]
            rows[split].append(data)
            rows[f"y_{split}"].extend(labels)
            batch = {b"batch_label": name.encode(), b"data": data, b"filenames": [b"x.png"] * per_batch}
            if variant == "cifar10":
                batch[b"labels"] = labels
            else:
                batch[b"fine_labels"] = labels
                batch[b"coarse_labels"] = [label // 5 for label in labels]
            if name != omit:
                _add(tar, f"{folder}/{name}", pickle.dumps(batch, protocol=2))
        _add(tar, f"{folder}/{meta}", pickle.dumps({b"label_names": [b"a"]}, protocol=2))
    return {
        "x_train": np.concatenate(rows["train"]),
        "x_test": np.concatenate(rows["test"]),
        "y_train": np.array(rows["y_train"]),
        "y_test": np.array(rows["y_test"]),
    }


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def _check_cifar(splits: ArraySplits, expected: dict[str, np.ndarray], n_train: int, n_test: int) -> None:
    assert splits.x_train.shape == (n_train, 3, 32, 32) and splits.x_test.shape == (n_test, 3, 32, 32)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    # The planted pixel sits in the green plane, row 2, column 3 of every image.
    assert splits.x_train[:, 1, 2, 3].tolist() == [200 + j for _ in range(n_train // 2) for j in range(2)]
    assert splits.x_test[1, 1, 2, 3] == 201
    # Row-major RGB planes: byte k of a row is channel k // 1024, row (k % 1024) // 32, column k % 32.
    k, last = 2 * 1024 + 31 * 32 + 17, n_train - 1
    assert splits.x_train[last, 2, 31, 17] == expected["x_train"][last, k]
    assert splits.x_train[last, 0, 0, 1] == expected["x_train"][last, 1]
    np.testing.assert_array_equal(splits.x_train.reshape(n_train, -1), expected["x_train"])
    np.testing.assert_array_equal(splits.y_train, expected["y_train"])
    np.testing.assert_array_equal(splits.y_test, expected["y_test"])


def test_cifar10_tarball_round_trip(tmp_path: Path) -> None:
    expected = write_cifar(tmp_path, "cifar10")
    splits = load_cifar_tarball(tmp_path / "cifar-10-python.tar.gz", "cifar10")
    _check_cifar(splits, expected, n_train=10, n_test=2)
    assert splits.y_train.tolist() == [0, 1, 7, 8, 4, 5, 1, 2, 8, 9]  # batches 1..5 in order


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    expected = write_cifar(tmp_path, "cifar100")
    splits = load_cifar_tarball(tmp_path / "cifar-100-python.tar.gz", "cifar100")
    _check_cifar(splits, expected, n_train=2, n_test=2)
    assert splits.y_test.tolist() == [7, 8]  # fine labels, not the coarse 1, 1


@pytest.mark.parametrize(
    "where", ["directory_with_tarball", "extracted_folder", "directory_with_extracted_folder"]
)
def test_cifar_path_forms(tmp_path: Path, where: str) -> None:
    expected = write_cifar(tmp_path / "dl", "cifar10")
    if where == "directory_with_tarball":
        path = tmp_path / "dl"
    else:
        with tarfile.open(tmp_path / "dl" / "cifar-10-python.tar.gz") as tar:
            tar.extractall(tmp_path / "ex", filter="data")
        path = tmp_path / "ex" / "cifar-10-batches-py" if where == "extracted_folder" else tmp_path / "ex"
    _check_cifar(load_cifar_tarball(str(path), "cifar10"), expected, n_train=10, n_test=2)


def test_cifar_tarball_missing_batch(tmp_path: Path) -> None:
    write_cifar(tmp_path, "cifar10", omit="data_batch_3")
    message = r"cifar-10-python\.tar\.gz: archive has no member cifar-10-batches-py/data_batch_3"
    with pytest.raises(ValueError, match=message):
        load_cifar_tarball(tmp_path, "cifar10")


def test_cifar_extracted_folder_missing_batch(tmp_path: Path) -> None:
    write_cifar(tmp_path / "dl", "cifar100")
    with tarfile.open(tmp_path / "dl" / "cifar-100-python.tar.gz") as tar:
        tar.extractall(tmp_path / "ex", filter="data")
    (tmp_path / "ex" / "cifar-100-python" / "test").unlink()
    with pytest.raises(FileNotFoundError, match=r"cifar-100-python/test: CIFAR batch file not found"):
        load_cifar_tarball(tmp_path / "ex", "cifar100")


def test_cifar_truncated_tarball(tmp_path: Path) -> None:
    write_cifar(tmp_path, "cifar10", per_batch=50)
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz: truncated or corrupt archive"):
        load_cifar_tarball(archive, "cifar10")


def test_cifar_batch_with_wrong_row_size(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    good = {b"data": cifar_rows(2, 0), b"fine_labels": [1, 2]}
    (folder / "train").write_bytes(pickle.dumps(good, protocol=2))
    bad = {b"data": np.zeros((2, 1024), np.uint8), b"fine_labels": [1, 2]}
    (folder / "test").write_bytes(pickle.dumps(bad, protocol=2))
    message = r"cifar-100-python: test: data is uint8 \(2, 1024\), expected uint8 \(N, 3072\)"
    with pytest.raises(ValueError, match=message):
        load_cifar_tarball(folder, "cifar100")


class _Planted:
    """A pickle that would create ``marker`` when unpickled by an unrestricted loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_cifar_refuses_to_run_foreign_pickles(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    marker = tmp_path / "executed"
    (folder / "train").write_bytes(pickle.dumps({b"data": _Planted(marker)}, protocol=2))
    (folder / "test").write_bytes(pickle.dumps({b"data": cifar_rows(1, 0), b"fine_labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match=r"cifar-100-python: train: not a CIFAR batch pickle .*not allowed"):
        load_cifar_tarball(folder, "cifar100")
    assert not marker.exists()


def test_cifar_missing_source_and_unknown_variant(tmp_path: Path) -> None:
    message = r"neither cifar-10-python\.tar\.gz nor an extracted cifar-10-batches-py/"
    with pytest.raises(FileNotFoundError, match=message):
        load_cifar_tarball(tmp_path, "cifar10")
    with pytest.raises(ValueError, match="unknown CIFAR variant 'svhn'"):
        load_cifar_tarball(tmp_path, "svhn")


# ---------------------------------------------------------------------------------------------
# Hub datasets, exercised offline against a local directory in the Hub repo's parquet layout
# ---------------------------------------------------------------------------------------------


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_hub_repo(
    root: Path, config: str, image_column: str, label_column: str, *, gray: bool
) -> dict[str, np.ndarray]:
    """Write ``{config}/{split}-00000-of-00001.parquet`` as the Hub repos store them."""
    datasets = pytest.importorskip("datasets")
    expected = {}
    for split, n in (("train", 3), ("test", 2)):
        rng = np.random.default_rng(len(split))
        images = rng.integers(0, 256, size=(n, 6, 7) if gray else (n, 6, 7, 3), dtype=np.uint8)
        labels = [(4 * i + n) % 10 for i in range(n)]
        table = datasets.Dataset.from_dict(
            {image_column: [{"bytes": _png(a), "path": None} for a in images], label_column: labels}
        ).cast_column(image_column, datasets.Image())
        (root / config).mkdir(parents=True, exist_ok=True)
        table.to_parquet(str(root / config / f"{split}-00000-of-00001.parquet"))
        expected[f"x_{split}"] = images
        expected[f"y_{split}"] = np.array(labels)
    return expected


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = pytest.importorskip("datasets").config
    for flag in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):  # read once at import; patch the copies too
        if hasattr(config, flag):
            monkeypatch.setattr(config, flag, True)


def _load_local(source: str, root: Path, tmp_path: Path) -> ArraySplits:
    hub = HUB[source]
    return load_hub(
        hub.repo_id,
        hub.revision,
        image_column=hub.image_column,
        label_column=hub.label_column,
        cache_dir=str(tmp_path / "cache"),
        path=str(root),
    )


def test_hub_rgb_images_become_channel_first(tmp_path: Path, offline: None) -> None:
    expected = write_hub_repo(tmp_path / "cifar10", "plain_text", "img", "label", gray=False)
    splits = _load_local("cifar10", tmp_path / "cifar10", tmp_path)
    assert splits.x_train.shape == (3, 3, 6, 7) and splits.x_test.shape == (2, 3, 6, 7)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    # HWC pixel (row 5, col 6, blue) of image 1 must land at [1, 2, 5, 6].
    assert splits.x_train[1, 2, 5, 6] == expected["x_train"][1, 5, 6, 2]
    np.testing.assert_array_equal(splits.x_train, expected["x_train"].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(splits.x_test, expected["x_test"].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(splits.y_train, expected["y_train"])
    np.testing.assert_array_equal(splits.y_test, expected["y_test"])


def test_hub_grayscale_images_get_one_channel(tmp_path: Path, offline: None) -> None:
    expected = write_hub_repo(tmp_path / "fmnist", "fashion_mnist", "image", "label", gray=True)
    splits = _load_local("fashion-mnist", tmp_path / "fmnist", tmp_path)
    assert splits.x_train.shape == (3, 1, 6, 7) and splits.x_test.shape == (2, 1, 6, 7)
    np.testing.assert_array_equal(splits.x_train[:, 0], expected["x_train"])
    np.testing.assert_array_equal(splits.y_test, expected["y_test"])


def test_hub_missing_label_column_is_named(tmp_path: Path, offline: None) -> None:
    write_hub_repo(tmp_path / "cifar100", "cifar100", "img", "coarse_label", gray=False)
    with pytest.raises(ValueError, match=r"train split has no column 'fine_label'"):
        _load_local("cifar100", tmp_path / "cifar100", tmp_path)


def test_hub_sources_are_pinned_to_commits() -> None:
    assert set(HUB) == {"cifar10", "cifar100", "fashion-mnist"}
    for source in HUB.values():
        assert re.fullmatch(r"[0-9a-f]{40}", source.revision), source
    assert (HUB["cifar100"].repo_id, HUB["cifar100"].image_column, HUB["cifar100"].label_column) == (
        "uoft-cs/cifar100",
        "img",
        "fine_label",
    )
    assert HUB["fashion-mnist"].image_column == "image"


def test_module_imports_no_heavy_dependencies_at_top_level() -> None:
    source = Path(_loaders.__file__).read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in top_level if "datasets" in line or "PIL" in line]
