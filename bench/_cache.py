"""Content-addressed model cache: safetensors weights + JSON metadata, keyed by sha256 of the model's spec.

Writes go to a temporary file and are renamed into place, weights before metadata, so an interrupted
or concurrent writer never leaves a half-written entry that looks complete. A corrupt entry is
reported by path, moved aside and retrained.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

__all__ = ["ModelCache", "spec_key", "default_cache_dir", "CACHE_ENV"]

CACHE_ENV = "PRIVBENCH_CACHE_DIR"


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "privbench"


def spec_key(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class ModelCache:
    """Stores trained modules by key. ``hits``/``misses`` count look-ups (tests and benchmarks read them)."""

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / "models" / key[:2]
        return d / f"{key}.safetensors", d / f"{key}.json"

    def load(self, key: str, build_module: Callable[[], Any]) -> tuple[Any, dict[str, Any]] | None:
        weights, meta_path = self._paths(key)
        if not meta_path.exists():
            self.misses += 1
            return None
        try:
            from safetensors.torch import load_file

            meta = json.loads(meta_path.read_text())
            module = build_module()
            module.load_state_dict(load_file(str(weights)))
            module.eval()
        except Exception as exc:
            self._quarantine(key, exc)
            self.misses += 1
            return None
        self.hits += 1
        return module, meta

    def save(self, key: str, module: Any, meta: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        weights, meta_path = self._paths(key)
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        _atomic_write(weights, lambda tmp: save_file(state, tmp))
        meta = {**meta, "key": key, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _atomic_write(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True)))

    def _quarantine(self, key: str, exc: BaseException) -> None:
        weights, meta_path = self._paths(key)
        for p in (weights, meta_path):
            if p.exists():
                os.replace(p, p.with_name(p.name + ".corrupt"))
        warnings.warn(
            f"corrupt model cache entry {weights} ({type(exc).__name__}: {exc}); moved aside as *.corrupt, retraining",
            RuntimeWarning,
        )

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for meta_path in sorted((self.root / "models").glob("*/*.json")):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            w = meta_path.with_suffix(".safetensors")
            meta["bytes"] = w.stat().st_size if w.exists() else 0
            out.append(meta)
        return out
