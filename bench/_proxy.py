"""The attack's side of the pipe: a pickle-free wire format and the context a worker process builds from it.

Messages are plain data (``None``, bools, numbers, strings, lists, string-keyed dicts, ``Candidates``)
framed as one JSON header followed by the arrays in ``.npy`` format (raw buffers, ``allow_pickle=False``).
The harness never unpickles anything the worker sends, so a hostile worker cannot run code in the
process that holds the split; it can only send data, which the harness checks.

In the worker, ``ctx.target`` is a :class:`TargetProxy`: each query is a request the harness answers
(or refuses, by threat model or budget) after charging the array's real leading dimension. Shadow
models arrive as weights the harness trained or loaded and charged; white-box attacks get a copy of
the target's module, so nothing they do reaches the harness's copy; once they hold it, their queries are
answered from that copy (served by the track's predictor through the defense, charged by the harness),
as in a thread: an attack that edits the weights (a backdoor) then measures the edited model.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np

from ._api import Budget, BudgetExceeded, Candidates, Task, ThreatModel, ThreatModelViolation, TrackInfo

__all__ = ["encode", "decode", "RemoteError", "TargetProxy", "RemoteLedger", "RemoteShadowSource", "ERRORS", "track_info_to_wire", "track_info_from_wire"]

_HEADER = struct.Struct("<Q")
# Exceptions the two sides may name to each other; anything else arrives as RemoteError.
ERRORS: dict[str, type[BaseException]] = {
    "BudgetExceeded": BudgetExceeded,
    "ThreatModelViolation": ThreatModelViolation,
    "AttributeError": AttributeError,
    "ValueError": ValueError,
    "TypeError": TypeError,
}


class RemoteError(RuntimeError):
    """An error the other side reported (type name and message only: no objects cross the pipe)."""


def encode(obj: Any) -> bytes:
    """One message: 8-byte header length, JSON header, then each array as ``.npy`` (no pickles)."""
    arrays: list[np.ndarray] = []
    header = json.dumps(_flatten(obj, arrays)).encode()
    buf = io.BytesIO()
    buf.write(_HEADER.pack(len(header)))
    buf.write(header)
    for a in arrays:
        np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def decode(data: bytes) -> Any:
    """Inverse of :func:`encode`; refuses object arrays and anything it does not know."""
    view = memoryview(data)
    (n,) = _HEADER.unpack_from(view)
    header = json.loads(bytes(view[_HEADER.size : _HEADER.size + n]))
    buf = io.BytesIO(view[_HEADER.size + n :])
    arrays: list[np.ndarray] = []
    while buf.tell() < len(buf.getbuffer()):
        arrays.append(np.lib.format.read_array(buf, allow_pickle=False))
    return _restore(header, arrays)


def _flatten(o: Any, arrays: list[np.ndarray]) -> Any:
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray) or type(o).__module__ == "torch" and hasattr(o, "detach"):
        a = np.asarray(o.detach().cpu().numpy() if hasattr(o, "detach") else o)  # a plain ndarray: subclasses lose their tricks
        if a.dtype.hasobject:
            raise TypeError("an object array cannot cross the worker's pipe; send numbers or strings")
        arrays.append(np.ascontiguousarray(a))
        return {"__nd__": len(arrays) - 1}
    if isinstance(o, (bytes, bytearray, memoryview)):
        arrays.append(np.frombuffer(bytes(o), dtype=np.uint8))
        return {"__bytes__": len(arrays) - 1}
    if isinstance(o, Candidates):
        return {"__candidates__": {f: _flatten(getattr(o, f), arrays) for f in o.fields}}
    if isinstance(o, (list, tuple)):
        return [_flatten(v, arrays) for v in o]
    if isinstance(o, dict):
        bad = [k for k in o if not isinstance(k, str)]
        if bad:
            raise TypeError(f"dict keys crossing the worker's pipe must be strings, not {type(bad[0]).__name__}")
        return {"__dict__": {k: _flatten(v, arrays) for k, v in o.items()}}
    raise TypeError(f"a {type(o).__name__} cannot cross the worker's pipe; send arrays, numbers, strings, lists or dicts")


def _restore(o: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(o, list):
        return [_restore(v, arrays) for v in o]
    if not isinstance(o, dict):
        return o
    if "__nd__" in o:
        return arrays[int(o["__nd__"])]
    if "__bytes__" in o:
        return arrays[int(o["__bytes__"])].tobytes()
    if "__candidates__" in o:
        return Candidates(**{k: _restore(v, arrays) for k, v in o["__candidates__"].items()})
    if "__dict__" in o:
        return {k: _restore(v, arrays) for k, v in o["__dict__"].items()}
    raise ValueError(f"malformed message from the other side of the worker's pipe: {sorted(o)[:3]}")


def track_info_to_wire(info: TrackInfo) -> dict[str, Any]:
    return {
        "name": info.name, "version": info.version, "task": Task(info.task).value, "num_classes": info.num_classes,
        "input_shape": list(info.input_shape) if info.input_shape else None, "augmentations": list(info.augmentations),
        "train_size": info.train_size, "extra": dict(info.extra),
    }


def track_info_from_wire(d: dict[str, Any]) -> TrackInfo:
    return TrackInfo(
        name=d["name"], version=d["version"], task=Task(d["task"]), num_classes=d["num_classes"],
        input_shape=tuple(d["input_shape"]) if d["input_shape"] else None, augmentations=tuple(d["augmentations"]),
        train_size=int(d["train_size"]), extra=d["extra"],
    )


class _Channel:
    """Request/reply over the worker's end of the pipe; every reply carries the harness's budget counts."""

    def __init__(self, conn: Any):
        self._conn = conn
        self.used: dict[str, float] = {"queries": 0, "shadow_models": 0, "device_seconds": 0.0}

    def call(self, op: str, **fields: Any) -> Any:
        self._conn.send_bytes(encode({"op": op, **fields}))
        reply = decode(self._conn.recv_bytes())
        self.used = reply.get("used", self.used)
        if "error" in reply:
            err = reply["error"]
            raise ERRORS.get(err["type"], RemoteError)(err["message"])
        return reply["ok"]


class RemoteLedger:
    """What ``BudgetView`` reads, mirrored from the harness (which alone charges and enforces)."""

    def __init__(self, budget: Budget, n_candidates: int, channel: _Channel):
        self.budget = budget
        self.max_queries = int(budget.queries_per_candidate * n_candidates)
        self._channel = channel

    @property
    def queries(self) -> int:
        return int(self._channel.used.get("queries", 0))

    def used(self) -> dict[str, float]:
        return dict(self._channel.used)


class TargetProxy:
    """``ctx.target`` in a worker: queries travel to the harness, which checks, charges and answers them."""

    def __init__(self, channel: _Channel, threat_model: ThreatModel, queries: dict[str, int], device: str, serve: Any = None):
        self._channel = channel
        self._threat_model = ThreatModel(threat_model)
        self._queries = {k: ThreatModel(v) for k, v in queries.items()}
        self._device = device
        self._module: Any = None
        self._serve = serve  # (module, prepared) -> the deployment's predictor (track's, through the defense), for the white-box copy
        self._local: Any = None

    @property
    def threat_model(self) -> ThreatModel:
        return self._threat_model

    @property
    def queries(self) -> dict[str, ThreatModel]:
        return dict(self._queries)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.__dict__.get("_queries", {}):
            raise AttributeError(f"the target oracle has no query {name!r}; it answers {', '.join(sorted(self.__dict__.get('_queries', {})))}")
        channel = self.__dict__["_channel"]

        def query(x: Any, *args: Any, **kwargs: Any) -> Any:
            local = self.__dict__.get("_local")
            if local is None:
                return channel.call("query", name=name, args=[x, *args], kwargs=kwargs)
            channel.call("charge", name=name, n=len(x))  # checked and charged by the harness, answered by the attack's copy
            return getattr(local, name)(x, *args, **kwargs)

        query.__name__ = name
        return query

    def timings(self, x: Any) -> np.ndarray:
        """Timing threat model: each example's inference time, measured in the harness process around the model."""
        return np.asarray(self._channel.call("query", name="timings", args=[x], kwargs={}), dtype=np.float64)

    @property
    def module(self) -> Any:
        """White-box only: a private copy of the target's module (the harness keeps its own)."""
        if self._module is None:
            got = self._channel.call("module")
            self._module = _load_module(got["module"], self._device)
            if self._serve is not None:
                prepared = _load_module(got["prepared"], "cpu") if got.get("prepared") is not None else None
                self._local = self._serve(self._module, prepared)
        return self._module


class RemoteShadowSource:
    """Shadow models on request: the harness trains or loads and charges them, the worker rebuilds them from weights."""

    def __init__(self, channel: _Channel, track: Any, defense: Any, device: str):
        self._channel = channel
        self._track = track
        self._defense = defense
        self._device = device

    def shadows(self, n: int, online: bool, ledger: Any) -> Any:
        from ._context import ShadowModel, Shadows

        got = self._channel.call("shadows", n=int(n), online=bool(online))
        models = []
        for m in got["models"]:
            from ._models import serve

            module = _load_module(m["module"], self._device)
            prepared = _load_module(m["prepared"], "cpu") if m.get("prepared") is not None else None
            predictor = serve(self._defense, self._track.predictor(module), prepared)
            models.append(ShadowModel(predictor, module, float(m["train_seconds"]), bool(m["cached"]), prepared))
        return Shadows(models, np.asarray(got["inclusion"], dtype=bool), got["pool"], int(got["n_candidates"]))


def _load_module(blob: bytes, device: str) -> Any:
    import torch

    # Trusted direction: the harness wrote these bytes (``torch.save`` of its module); the worker never sends pickles.
    return torch.load(io.BytesIO(blob), map_location=device, weights_only=False)
