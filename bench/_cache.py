"""Content-addressed model cache: safetensors weights + JSON metadata, keyed by sha256 of the model's spec.

Writes go to a temporary file and are renamed into place, weights before metadata, so an interrupted
or concurrent writer never leaves a half-written entry that looks complete. A corrupt entry is
reported by path, moved aside and retrained.

Every entry is checked against its key before it is loaded: the metadata's ``spec`` must hash to the key
it is stored under, and ``integrity`` (written by :meth:`ModelCache.save`) holds the weights' sha256 and a
digest of the key and the rest of the metadata. Another model's files copied into a key's slot, weights
swapped, or an edited ``train_seconds`` (what shadow models are charged) are refused with a warning and
retrained, never loaded silently. (A digest anyone can recompute catches accidents and edits, not a forger
with write access to the cache: official runs train from a private cold cache.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from ._io import atomic_write

__all__ = ["ModelCache", "spec_key", "entry_mismatch", "default_cache_dir", "CACHE_ENV", "parse_age"]

CACHE_ENV = "PRIVBENCH_CACHE_DIR"


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "privbench"


def spec_key(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


class ModelCache:
    """Stores trained modules by key. ``hits``/``misses`` count look-ups (tests and benchmarks read them)."""

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / "models" / key[:2]
        return d / f"{key}.safetensors", d / f"{key}.json"

    @contextlib.contextmanager
    def lock(self, *keys: str) -> Iterator[None]:
        """Hold exclusive locks on ``keys`` (sorted, so two holders never deadlock) across processes.

        The model factory trains a missing model under its lock, so concurrent workers (local slots,
        Ray tasks) that need the same model train it once: the others wait and then load it.
        Where ``fcntl`` is missing (Windows) this is a no-op; the atomic writes stay safe.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover
            yield
            return
        d = self.root / "locks"
        d.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            for key in sorted(set(keys)):
                f = stack.enter_context(open(d / f"{key}.lock", "a+b"))
                fcntl.flock(f, fcntl.LOCK_EX)
                stack.callback(fcntl.flock, f, fcntl.LOCK_UN)
            yield

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Lock ``key`` if no other process holds it: yields whether this one does (it may then train the model).

        Workers that share a cache split a group's models this way instead of queueing behind one holder."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover
            yield True
            return
        d = self.root / "locks"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / f"{key}.lock", "a+b") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def load(self, key: str, build_module: Callable[[], Any]) -> tuple[Any, dict[str, Any]] | None:
        weights, meta_path = self._paths(key)
        if not meta_path.exists():
            self.misses += 1
            return None
        try:
            from safetensors.torch import load as load_bytes

            meta = json.loads(meta_path.read_text())
            blob = weights.read_bytes()
            mismatch = entry_mismatch(key, meta, blob)
            if mismatch is None:
                module = build_module()
                module.load_state_dict(load_bytes(blob))
                module.eval()
        except Exception as exc:
            self._quarantine(key, exc)
            self.misses += 1
            return None
        if mismatch is not None:
            self._quarantine(key, None, f"model cache entry {weights} does not match its key: {mismatch}")
            self.misses += 1
            return None
        self.hits += 1
        try:  # last use, for ``privbench cache gc --unused-for``
            os.utime(meta_path)
        except OSError:
            pass
        return module, meta

    def save(self, key: str, module: Any, meta: dict[str, Any]) -> None:
        from safetensors.torch import save

        if "spec" in meta and spec_key(meta["spec"]) != key:
            raise ValueError(f"refusing to cache a model under key {key[:12]}…: its spec hashes to {spec_key(meta['spec'])[:12]}…")
        weights, meta_path = self._paths(key)
        blob = save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
        atomic_write(weights, lambda tmp: Path(tmp).write_bytes(blob))
        meta = {k: v for k, v in meta.items() if k != INTEGRITY}
        meta.update(key=key, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta[INTEGRITY] = {"weights_sha256": hashlib.sha256(blob).hexdigest(), "meta_sha256": _meta_digest(key, meta)}
        atomic_write(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True)))

    def _quarantine(self, key: str, exc: BaseException | None, message: str | None = None) -> None:
        weights, meta_path = self._paths(key)
        for p in (weights, meta_path):
            if p.exists():
                os.replace(p, p.with_name(p.name + ".corrupt"))
        why = message or f"corrupt model cache entry {weights} ({type(exc).__name__}: {exc})"
        warnings.warn(f"{why}; moved aside as *.corrupt, retraining", RuntimeWarning)

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

    def gc(self, *, unused_for: float | None = None, grace: float = 3600.0, dry_run: bool = False) -> list[tuple[Path, str]]:
        """Remove debris and, optionally, entries not used for ``unused_for`` seconds; returns (path, why).

        Debris: ``*.corrupt`` files (quarantined entries), and temporary files or weights without metadata
        older than ``grace`` seconds (younger ones may belong to a writer that is still running).
        """
        now_ = time.time()
        out: list[tuple[Path, str]] = []
        models = self.root / "models"
        for p in sorted(models.glob("*/*")) if models.exists() else []:
            try:
                age = now_ - p.stat().st_mtime
            except OSError:
                continue
            why = None
            if p.name.endswith(".corrupt"):
                why = "corrupt"
            elif p.name.endswith(".tmp"):
                why = "interrupted write" if age > grace else None
            elif p.suffix == ".safetensors" and not p.with_suffix(".json").exists():
                why = "weights without metadata" if age > grace else None
            elif p.suffix == ".json" and unused_for is not None and age > unused_for:
                why = f"unused for {age / 86400:.1f} days"
                out.append((p.with_suffix(".safetensors"), why))
            if why:
                out.append((p, why))
        locks = self.root / "locks"
        for p in sorted(locks.glob("*.lock")) if locks.exists() else []:
            if now_ - p.stat().st_mtime > grace and _unheld(p):
                out.append((p, "stale lock file"))
        if not dry_run:
            for p, _ in out:
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
        return [(p, why) for p, why in out if dry_run or not p.exists()]

    def usage(self) -> dict[str, Any]:
        """Entries and bytes in total and per (track, role)."""
        groups: dict[tuple[str, str], dict[str, int]] = {}
        total = {"entries": 0, "bytes": 0}
        for e in self.entries():
            spec = e.get("spec", {})
            g = groups.setdefault((spec.get("track", {}).get("name", "?"), spec.get("role", "?")), {"entries": 0, "bytes": 0})
            for d in (g, total):
                d["entries"] += 1
                d["bytes"] += e["bytes"]
        other = sum(p.stat().st_size for p in (self.root / "models").glob("*/*") if not p.name.endswith((".json", ".safetensors"))) if (self.root / "models").exists() else 0
        return {"root": str(self.root), **total, "debris_bytes": other, "groups": [{"track": t, "role": r, **v} for (t, r), v in sorted(groups.items())]}


INTEGRITY = "integrity"


def _meta_digest(key: str, meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != INTEGRITY}
    return hashlib.sha256(json.dumps({"key": key, "meta": body}, sort_keys=True, default=str).encode()).hexdigest()


def entry_mismatch(key: str, meta: Any, weights: bytes) -> str | None:
    """Why a stored entry is not the model of ``key`` (None when it is): spec, key, weights and metadata digests."""
    if not isinstance(meta, dict):
        return "its metadata is not a JSON object"
    if "spec" in meta and spec_key(meta["spec"]) != key:
        return f"its spec hashes to {spec_key(meta['spec'])[:12]}… (another model's entry copied here?)"
    if meta.get("key") != key:
        return f"its metadata names key {str(meta.get('key'))[:12]}…"
    check = meta.get(INTEGRITY)
    if not isinstance(check, dict):
        return "it has no integrity digests (written by an older privbench, or edited)"
    if check.get("weights_sha256") != hashlib.sha256(weights).hexdigest():
        return "its weights are not the ones saved with it"
    if check.get("meta_sha256") != _meta_digest(key, meta):
        return "its metadata was edited after it was saved (e.g. train_seconds)"
    return None


def _unheld(path: Path) -> bool:
    try:
        import fcntl

        with open(path, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
        return True
    except (ImportError, OSError):
        return False


def parse_age(text: str) -> float:
    """Seconds in an age like ``30d``, ``12h``, ``45m`` or ``90s`` (a bare number is days)."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text) * 86400
    except ValueError:
        raise ValueError(f"{text!r} is not an age such as 30d, 12h, 45m or 90s") from None
