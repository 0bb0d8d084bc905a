"""The harness's side of an attack that runs in its own process (``Plan.isolation = "process"``).

``run_attack(job, workers)`` sends the worker only what the attack's threat model allows (candidates,
population, track metadata, seed, budget limits, the attack's name and parameters), then serves its
requests: target queries (checked against the threat model, charged by the array's real leading
dimension, answered through the served predictor; a white-box attack's, once it holds its copy of the
module, answered by that copy in the worker and only checked and charged here), shadow models (trained or loaded and charged
here, sent as weights with the inclusion matrix and pool) and, for white-box attacks, a copy of the
target's module. It enforces the timeout (a hung or crashed worker is killed, never abandoned), and
reads the result as data: scores (or an integrity track's metrics), the threshold and the exports.
The split, the membership mask, the cache and the run folder never leave this process.

Workers are children of one zygote per :class:`bench._pool.WorkerPool` (``bench._zygote``), started
sandboxed where the machine allows (``bench._sandbox``).
"""

from __future__ import annotations

import io
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._api import Attack, Budget, BudgetExceeded, Candidates, Defense, ThreatModelViolation, TrackInfo
from ._pool import WorkerPool
from ._proxy import decode, encode, track_info_to_wire

__all__ = ["AttackJob", "WorkerResult", "WorkerPool", "run_attack", "job_for", "class_ref"]

CELL_STARTUP_SECONDS = 120.0  # fork and the cell's own namespaces, before the clock starts (plugin files and __init__ run on it)
MAX_MESSAGE = 1 << 34


@dataclass
class AttackJob:
    """What the harness hands over (and keeps): the parent-side oracle, shadow source and ledger stay here."""

    attack: Attack
    track: Any
    defense: Defense
    candidates: Candidates
    population: Candidates
    track_info: TrackInfo
    seed: int
    device: str
    budget: Budget
    oracle: Any  # bench._context.TargetOracle: threat model + query charging, parent side
    shadows: Callable[[int, bool], Any]  # (n, online) -> Shadows, charged to the ledger
    ledger: Any
    plugin_files: list[str] = field(default_factory=list)


@dataclass
class WorkerResult:
    status: str  # ok | failed | timeout | over_budget
    error: str | None
    output: Any = None
    threshold: float | None = None
    exports: dict[str, np.ndarray] = field(default_factory=dict)
    isolation: dict[str, Any] = field(default_factory=dict)


def job_for(attack: Attack, ctx: Any, ledger: Any, track: Any, defense: Defense, plugin_files: list[str]) -> AttackJob:
    """The job for a context the runner built in-process: the worker gets its public parts only."""
    return AttackJob(
        attack=attack, track=track, defense=defense, candidates=ctx.candidates, population=ctx.population, track_info=ctx.track,
        seed=ctx.seed, device=ctx.device, budget=ledger.budget, oracle=ctx.target, ledger=ledger,
        shadows=lambda n, online: ctx.shadows(n, online=online), plugin_files=list(plugin_files),
    )


def class_ref(obj: Any, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """How the worker finds the same plugin class: registry name, module and qualified name, file. An official run's
    stub (``bench._official_plugins``) carries the real class's, and its overrides (the real class has the defaults)."""
    cls = obj if isinstance(obj, type) else type(obj)
    real = getattr(cls, "_class_ref", None)
    if real:
        return {"name": name, "params": dict(getattr(obj, "_overrides", {})), **{k: real[k] for k in ("module", "qualname", "file")}}
    return {"name": name, "params": dict(params), "module": cls.__module__, "qualname": cls.__qualname__,
            "file": getattr(sys.modules.get(cls.__module__), "__file__", None)}


def run_attack(job: AttackJob, workers: WorkerPool, *, grace: float = 30.0) -> WorkerResult:
    """Run ``job.attack.score`` in a fresh worker; the record's status, error and output come back."""
    init = _init_message(job)
    pid, conn = workers.fork([*init["plugin_files"], *(init[k]["file"] for k in ("attack", "track", "defense"))])
    try:
        conn.send_bytes(encode(init))
        return _Serve(job, workers, pid, conn, grace).loop()
    finally:
        conn.close()
        workers.kill(pid)  # whatever the outcome: a cell that sent its result itself could run on, taking a core


def _init_message(job: AttackJob) -> dict[str, Any]:
    threads = None
    if "torch" in sys.modules:
        threads = sys.modules["torch"].get_num_threads()
    return {
        "attack": class_ref(job.attack, job.attack.name, job.attack.params),
        "track": class_ref(job.track, job.track.name, dict(getattr(job.track, "params", {}))),
        "defense": class_ref(job.defense, job.defense.name, job.defense.params),
        "plugin_files": list(job.plugin_files),
        "candidates": job.candidates,
        "population": job.population,
        "track_info": track_info_to_wire(job.track_info),
        "seed": int(job.seed),
        "device": str(job.device),
        "budget": {"tier": job.budget.tier, **job.budget.limits()},
        "threat_model": int(job.attack.threat_model),
        "queries": {k: int(v) for k, v in job.oracle.queries.items()},
        "threads": threads,
    }


class _Serve:
    """The request loop for one worker: answers, charges, enforces, and turns the outcome into a result."""

    def __init__(self, job: AttackJob, workers: WorkerPool, pid: int, conn: Any, grace: float):
        self.job, self.workers, self.pid, self.conn = job, workers, pid, conn
        self.limit = job.budget.device_seconds * 1.1 + grace
        self.deadline = time.monotonic() + CELL_STARTUP_SECONDS
        self.started = False
        self.private_tmp: bool | None = None
        self.violation: str | None = None
        self.refused_budget: str | None = None
        self.name = job.attack.name

    def loop(self) -> WorkerResult:
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or not self.conn.poll(remaining):
                if remaining > 0:
                    continue
                self.workers.kill(self.pid)
                return self._result("timeout", f"attack {self.name!r} did not return within {self.limit:.0f} s (budget {self.job.budget.device_seconds:g} device-seconds); its worker was killed")
            try:
                msg = decode(self.conn.recv_bytes(MAX_MESSAGE))
                op = msg.get("op") if isinstance(msg, dict) else None
            except EOFError:
                return self._died()
            except (ValueError, KeyError, TypeError, OSError) as exc:
                self.workers.kill(self.pid)
                return self._result("failed", f"attack {self.name!r}'s worker sent a malformed message ({type(exc).__name__}: {exc}); it was killed")
            if op == "ready" and not self.started:  # once: a second "ready" would reset the attack's clock
                self.started = True
                self.private_tmp = msg.get("private_tmp")
                self.deadline = time.monotonic() + self.limit
                self.job.ledger._start = time.perf_counter()  # the worker's start-up is not the attack's time
            elif op in ("query", "charge", "module", "shadows"):
                self._reply(op, msg)
            elif op == "done":
                return self._done(msg)
            elif op == "raised":
                return self._raised(msg)
            else:
                self.workers.kill(self.pid)
                return self._result("failed", f"attack {self.name!r}'s worker sent an unknown request {op!r}; it was killed")

    def _reply(self, op: str, msg: dict[str, Any]) -> None:
        try:
            ok = getattr(self, f"_{op}")(msg)
            reply: dict[str, Any] = {"ok": ok}
        except ThreatModelViolation as exc:
            self.violation = self.violation or str(exc)
            reply = {"error": {"type": "ThreatModelViolation", "message": str(exc)}}
        except BudgetExceeded as exc:
            self.refused_budget = str(exc)
            reply = {"error": {"type": "BudgetExceeded", "message": str(exc)}}
        except Exception as exc:  # the attack's bad request (wrong shape, unknown query): its error, in its process
            reply = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        reply["used"] = self.job.ledger.used()
        try:
            self.conn.send_bytes(encode(reply))
        except TypeError as exc:  # a predictor answered something that cannot cross: the attack sees why
            self.conn.send_bytes(encode({"error": {"type": "TypeError", "message": str(exc)}, "used": reply["used"]}))

    def _query(self, msg: dict[str, Any]) -> Any:
        name, args, kwargs = msg.get("name"), msg.get("args"), msg.get("kwargs") or {}
        queries = {**self.job.oracle.queries, "timings": None}  # timings: checked and charged by TargetOracle.timings
        if not isinstance(name, str) or name not in queries:
            raise AttributeError(f"the target oracle has no query {name!r}; it answers {', '.join(sorted(queries))}")
        if not isinstance(args, list) or not args or not isinstance(kwargs, dict):
            raise TypeError(f"target.{name}() needs the examples to query as its first argument")
        x = args[0]
        if not isinstance(x, (np.ndarray, list)) or np.ndim(x) == 0:
            raise TypeError(f"target.{name}() takes an array (or list) of examples, not {type(x).__name__}")
        return getattr(self.job.oracle, name)(*args, **kwargs)  # TargetOracle: threat model, then len(x) charged

    def _charge(self, msg: dict[str, Any]) -> None:
        """A white-box attack's query answered by its own copy of the module: checked and charged here all the same."""
        name, n = msg.get("name"), msg.get("n")
        if not isinstance(name, str) or name not in self.job.oracle.queries:
            raise AttributeError(f"the target oracle has no query {name!r}; it answers {', '.join(sorted(self.job.oracle.queries))}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise TypeError(f"target.{name}() was charged {n!r} examples, not a count")
        self.job.oracle.charge(name, n)

    def _module(self, msg: dict[str, Any]) -> dict[str, bytes | None]:
        """The target's module and the defense's state for serving it (e.g. MemGuard's defender), as for shadows."""
        import torch

        module = self.job.oracle.module  # raises ThreatModelViolation below white-box
        out: dict[str, bytes | None] = {"module": None, "prepared": None}
        for key, obj in (("module", module), ("prepared", self.job.oracle._prepared)):
            if obj is not None:
                buf = io.BytesIO()
                torch.save(obj, buf)
                out[key] = buf.getvalue()
        return out

    def _shadows(self, msg: dict[str, Any]) -> dict[str, Any]:
        import torch

        n, online = msg.get("n"), msg.get("online")
        if not isinstance(n, int) or isinstance(n, bool) or not isinstance(online, bool):
            raise TypeError(f"ctx.shadows(n, online=...) needs an int and a bool, got {n!r}, {online!r}")
        shadows = self.job.shadows(n, online)
        models = []
        for m in shadows.models:
            buf = io.BytesIO()
            torch.save(m.module, buf)
            prepared = None
            if m.prepared is not None:  # the defense's serving state (e.g. MemGuard's defender), same trusted direction
                pbuf = io.BytesIO()
                torch.save(m.prepared, pbuf)
                prepared = pbuf.getvalue()
            models.append({"module": buf.getvalue(), "train_seconds": float(m.train_seconds), "cached": bool(m.cached), "prepared": prepared})
        return {"models": models, "inclusion": np.asarray(shadows.inclusion, dtype=bool), "pool": shadows.pool, "n_candidates": int(shadows.n_candidates)}

    def _done(self, msg: dict[str, Any]) -> WorkerResult:
        if self.violation:
            return self._result("failed", f"threat-model violation: {self.violation}")
        threshold = msg.get("threshold")
        exports = msg.get("exports") or {}
        if threshold is not None and not isinstance(threshold, (int, float)) or not isinstance(exports, dict):
            return self._result("failed", f"attack {self.name!r} set a threshold or exports that are not numbers/arrays")
        out = self._result("ok", None)
        out.output, out.threshold = msg.get("output"), None if threshold is None else float(threshold)
        out.exports = {str(k): np.asarray(v) for k, v in exports.items()}
        return out

    def _raised(self, msg: dict[str, Any]) -> WorkerResult:
        kind, text, tb = str(msg.get("type")), str(msg.get("message")), str(msg.get("traceback") or "")
        if self.violation:
            return self._result("failed", f"threat-model violation: {self.violation}")
        if kind == "BudgetExceeded" and self.refused_budget:
            return self._result("over_budget", self.refused_budget)
        return self._result("failed", f"attack {self.name!r} raised {kind}: {text}\n{tb}".rstrip())

    def _died(self) -> WorkerResult:
        code = self.workers.exit_code(self.pid)
        how = f"exit status {code}" if code is not None else "unknown exit status"
        if self.violation:
            return self._result("failed", f"threat-model violation: {self.violation}")
        return self._result("failed", f"attack {self.name!r}'s worker process ended without returning scores ({how}: os._exit, a crash or a signal); only this cell is affected")

    def _result(self, status: str, error: str | None) -> WorkerResult:
        isolation = self.workers.isolation()
        if isolation["sandboxed"]:  # whether the cell had its own scratch folders (False: the kernel refused)
            isolation["private_tmp"] = bool(self.private_tmp)
        return WorkerResult(status, error, isolation=isolation)
