"""Pure data loading for the image tracks: files on disk or a pinned Hub dataset -> numpy arrays.

Every loader returns :class:`ArraySplits`: images as ``uint8`` arrays shaped ``(N, C, H, W)``
(channel-first, ``C == 1`` for grayscale) and labels as ``int64`` arrays shaped ``(N,)``.
Missing files raise :class:`FileNotFoundError`; present-but-unusable files (truncated gzip,
wrong IDX magic number, wrong sizes, an archive without one of its batches) raise
:class:`ValueError`. Both messages name the offending file.

``datasets`` and PIL are imported inside :func:`load_hub` only, so the IDX and CIFAR readers
work with numpy alone.
"""

from __future__ import annotations

import os

import gzip
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ArraySplits",
    "DEBIAN_FASHION_MNIST",
    "HUB",
    "HubSource",
    "load_cifar_tarball",
    "load_hub",
    "load_idx_dir",
    "load_idx_split",
    "fashion_mnist_splits",
    "load_hub_train",
    "rgb_image",
]

# Installed by Debian's ``fashion-mnist`` package (gzipped IDX files).
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


@dataclass(frozen=True)
class ArraySplits:
    """Train and test images (uint8, N x C x H x W) with their int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face Hub dataset pinned to one commit, and the columns to read from it."""

    repo_id: str
    revision: str
    image_column: str
    label_column: str


# Full commit SHAs of the repos' main branches, each seen in public sources (not verified
# against the Hub from here): cifar10 and cifar100 match the short ids on the repos' README
# blame pages and are used as pins by several public projects; fashion_mnist's is the commit in
# a huggingface.co blame URL of that repo. Re-check with `huggingface_hub.HfApi().dataset_info`
# on a machine with Hub access before publishing numbers.
HUB: dict[str, HubSource] = {
    "cifar10": HubSource(
        "uoft-cs/cifar10", "0b2714987fa478483af9968de7c934580d0bb9a2", "img", "label"
    ),
    "cifar100": HubSource(
        "uoft-cs/cifar100", "aadb3af77e9048adbea6b47c21a81e47dd092ae5", "img", "fine_label"
    ),
    "fashion-mnist": HubSource(
        "zalando-datasets/fashion_mnist", "559bbd4b365556b8e2dfd980b9f909a50ffa488c", "image", "label"
    ),
}


# --------------------------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# --------------------------------------------------------------------------------------------

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


def _find_idx_file(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{directory / stem}(.gz): IDX file not found")


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as error:  # BadGzipFile is an OSError; truncation is EOFError
        raise ValueError(f"{path}: truncated or corrupt gzip file ({error})") from error


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes whose magic number must equal ``magic``."""
    data = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found is not None and found != magic:
        raise ValueError(f"{path}: IDX magic number is 0x{found:08x}, expected 0x{magic:08x}")
    if len(data) < header:
        raise ValueError(f"{path}: {len(data)} bytes is shorter than the {header}-byte IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: header declares shape {dims} ({expected} bytes of data), "
            f"but the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_split(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find_idx_file(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_idx_file(directory, f"{prefix}-labels-idx1-ubyte")
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC)
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise ValueError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    return images[:, None, :, :].copy(), labels.astype(np.int64)


def load_idx_split(path: str | Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """One split (``prefix``: ``train`` or ``t10k``) of an MNIST-style IDX folder: (uint8 N x 1 x H x W, int64 labels)."""
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: IDX dataset directory not found")
    return _idx_split(directory, prefix)


def load_idx_dir(path: str | Path) -> ArraySplits:
    """Read MNIST-style IDX files (``train-``/``t10k-`` images and labels, gzipped or not)."""
    x_train, y_train = load_idx_split(path, "train")
    x_test, y_test = load_idx_split(path, "t10k")
    return ArraySplits(x_train, y_train, x_test, y_test)


def fashion_mnist_splits(data_dir: str | None = None) -> ArraySplits:
    """Fashion-MNIST: ``data_dir`` or Debian's IDX files where installed, else the hub at its pinned revision."""
    local = data_dir or (DEBIAN_FASHION_MNIST if os.path.isdir(DEBIAN_FASHION_MNIST) else None)
    if local:
        return load_idx_dir(local)
    src = HUB["fashion-mnist"]
    return load_hub(src.repo_id, src.revision, image_column=src.image_column, label_column=src.label_column)


# --------------------------------------------------------------------------------------------
# CIFAR python-version archives
# --------------------------------------------------------------------------------------------

# variant -> (archive file, top folder inside it, train batches, test batches, label key)
_CIFAR = {
    "cifar10": (
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        b"labels",
    ),
    "cifar100": ("cifar-100-python.tar.gz", "cifar-100-python", ("train",), ("test",), b"fine_labels"),
}

# The only globals a CIFAR batch pickle needs: a numpy uint8 array (old and new numpy module
# paths) and the codec shim protocol-2 pickles use for bytes.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _cifar_members(
    path: Path, archive: str, folder: str, names: tuple[str, ...]
) -> tuple[Path, dict[str, bytes]]:
    """Find the archive or extracted folder under ``path`` and read the named batches from it."""
    if path.is_file():
        return path, _tar_members(path, folder, names)
    if (path / archive).is_file():
        return path / archive, _tar_members(path / archive, folder, names)
    for extracted in (path / folder, path):
        if extracted.is_dir() and extracted.name == folder:
            return extracted, {name: _folder_member(extracted / name) for name in names}
    raise FileNotFoundError(f"{path}: neither {archive} nor an extracted {folder}/ found")


def _tar_members(archive: Path, folder: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """Read ``folder/name`` for every name in one pass over the (possibly gzipped) tarball."""
    wanted = {f"{folder}/{name}": name for name in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.name in wanted else None
                if handle is not None:
                    found[wanted[member.name]] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{archive}: truncated or corrupt archive ({error})") from error
    missing = [member for member, name in wanted.items() if name not in found]
    if missing:
        raise ValueError(f"{archive}: archive has no member {', '.join(missing)}")
    return found


def _folder_member(file: Path) -> bytes:
    if not file.is_file():
        raise FileNotFoundError(f"{file}: CIFAR batch file not found")
    return file.read_bytes()


def _cifar_batch(raw: bytes, label_key: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as error:  # any failure to unpickle means a corrupt or foreign file
        raise ValueError(f"{where}: not a CIFAR batch pickle ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise ValueError(f"{where}: batch lacks the b'data' and {label_key!r} entries")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{where}: data is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    if labels.shape != (len(data),):
        raise ValueError(f"{where}: {labels.shape} labels for {len(data)} images")
    # Each row is the red plane, then green, then blue, each 32 rows of 32 pixels.
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_split(
    batches: dict[str, bytes], source: Path, names: tuple[str, ...], key: bytes
) -> tuple[np.ndarray, np.ndarray]:
    parts = [_cifar_batch(batches[name], key, f"{source}: {name}") for name in names]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def load_cifar_tarball(path: str | Path, variant: str) -> ArraySplits:
    """Read CIFAR-10/100 from the original python-version archive or its extracted folder.

    ``path`` is ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` itself, a directory that
    holds it (or its extracted folder), or the extracted folder. The batches are pickles: they
    are read only from files the caller points to (never downloaded here), and unpickling is
    restricted to the numpy array globals a CIFAR batch needs, so a foreign pickle is rejected
    rather than executed.
    """
    if variant not in _CIFAR:
        raise ValueError(f"unknown CIFAR variant {variant!r}; expected one of {sorted(_CIFAR)}")
    archive, folder, train, test, key = _CIFAR[variant]
    source, batches = _cifar_members(Path(path), archive, folder, train + test)
    x_train, y_train = _cifar_split(batches, source, train, key)
    x_test, y_test = _cifar_split(batches, source, test, key)
    return ArraySplits(x_train, y_train, x_test, y_test)


# --------------------------------------------------------------------------------------------
# Hugging Face Hub (or a local copy in the same layout)
# --------------------------------------------------------------------------------------------


def _images_to_array(images: Any, where: str) -> np.ndarray:
    """Decode PIL images to one uint8 (N, C, H, W) array: C=1 for grayscale, else RGB."""
    arrays = []
    for image in images:
        mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
        pixels = np.asarray(image.convert(mode), dtype=np.uint8)
        arrays.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"{where}: images differ in shape or channels: {sorted(shapes)}")
    return np.stack(arrays)


def _hub_split(
    dataset: Any, split: str, image_column: str, label_column: str, where: str
) -> tuple[np.ndarray, np.ndarray]:
    if split not in dataset:
        raise ValueError(f"{where}: no {split!r} split (found {sorted(dataset)})")
    table = dataset[split]
    for column in (image_column, label_column):
        if column not in table.column_names:
            found = table.column_names
            raise ValueError(f"{where}: {split} split has no column {column!r} (found {found})")
    x = _images_to_array(table[image_column], f"{where} [{split}]")
    return x, np.asarray(table[label_column], dtype=np.int64)


def load_hub(
    repo_id: str,
    revision: str,
    *,
    image_column: str,
    label_column: str,
    cache_dir: str | None = None,
    path: str | None = None,
) -> ArraySplits:
    """Load the ``train`` and ``test`` splits of a Hub dataset at ``revision`` into arrays.

    ``path`` (a local directory in the repo's layout) replaces ``repo_id`` when given, so the
    same code path runs offline.
    """
    import datasets  # lazy: heavy, and only this loader needs it

    where = path or f"{repo_id}@{revision}"
    dataset = datasets.load_dataset(path or repo_id, revision=revision, cache_dir=cache_dir)
    x_train, y_train = _hub_split(dataset, "train", image_column, label_column, where)
    x_test, y_test = _hub_split(dataset, "test", image_column, label_column, where)
    return ArraySplits(x_train, y_train, x_test, y_test)


def load_hub_train(path_or_repo: str, revision: str | None, columns: tuple[str, ...], cache_dir: str | None = None) -> Any:
    """The ``train`` split of a Hub dataset at ``revision`` (or a local copy in its layout), checked to have ``columns``.

    The multimodal tracks (faces, captions) read their rows from it one by one."""
    import datasets  # lazy: heavy, and only the hub loaders need it

    ds = datasets.load_dataset(path_or_repo, revision=revision, cache_dir=cache_dir, split="train")
    for col in columns:
        if col not in ds.column_names:
            raise ValueError(f"{path_or_repo}@{revision}: train split has no column {col!r} (columns: {', '.join(ds.column_names)})")
    return ds


def rgb_image(image: Any, size: int) -> np.ndarray:
    """A PIL image as a float32 ``(3, size, size)`` array in [-1, 1] (the multimodal tracks' input)."""
    return np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0
