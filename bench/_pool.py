"""The attack workers of a harness process: one zygote interpreter (``bench._zygote``), sandboxed where the
machine allows (``bench._sandbox``), that forks a fresh worker per attack run.

Sessions whose sandbox would look the same share a pool (tests make many sessions). Starting a zygote ends those of
the other pools with no worker running, so a process holds one idle zygote at most: each is a whole interpreter with
torch (~0.8 GB), and a test process that kept one per test ran the machine out of memory.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ._sandbox import Sandbox, detect, keep_paths, worker_env

__all__ = ["WorkerPool", "STARTUP_SECONDS"]

STARTUP_SECONDS = 120.0  # the zygote's imports; a fork after that takes milliseconds


class WorkerPool:
    """One sandboxed zygote per session: forks a fresh worker per attack run; ``close()`` ends them all."""

    def __init__(self, *, hide: list[str], sandbox: str | None = None, plugin_files: list[str] | None = None):
        self.hide = [str(p) for p in hide if p]
        self.preference = sandbox
        self.plugin_files = [os.path.abspath(p) for p in plugin_files or []]
        self.sandbox: Sandbox | None = None
        self._proc: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()
        self._live: set[int] = set()  # workers forked and not yet killed

    @property
    def busy(self) -> bool:
        """Whether a worker of this pool is running (closing the pool now would kill it)."""
        return bool(self._live)

    @classmethod
    def shared(cls, *, hide: list[str], sandbox: str | None = None, plugin_files: list[str] | None = None) -> "WorkerPool":
        """A pool for this process, reused by sessions whose sandbox would look the same (tests make many sessions)."""
        box = detect(sandbox)
        files = tuple(os.path.abspath(p) for p in plugin_files or [])
        for path in hide:
            os.makedirs(path, mode=0o700, exist_ok=True)
        # bwrap already hides /tmp and the home folder; the nobody sandbox locks folders at any time (permissions).
        own = tuple(sorted(str(Path(p).resolve()) for p in hide if box.kind == "bwrap" and not box.covers(p)))
        key = (box.kind, files, own)
        if key not in _POOLS:
            _POOLS[key] = cls(hide=list(own), sandbox=box.kind, plugin_files=list(files))
        for path in hide:
            box.command([], hide=[path])  # nobody: make it 0700 now (no-op for the others)
        return _POOLS[key]

    def _start(self) -> None:
        _close_idle(but=self)
        self.sandbox = detect(self.preference)
        for path in self.hide:  # hidden folders must exist now: one created later would not be covered
            os.makedirs(path, mode=0o700, exist_ok=True)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        keep = [*keep_paths(), *self.plugin_files, *_test_files()]
        # --scratch: each cell gets its own /tmp, /var/tmp and /dev/shm (nothing carries from one target to the next)
        scratch = ["--scratch"] if self.sandbox.kind != "none" else []
        argv = self.sandbox.command([sys.executable, "-m", "bench._zygote", str(child.fileno()), *scratch], hide=self.hide, keep=keep)
        self._proc = subprocess.Popen(argv, pass_fds=[child.fileno()], env=worker_env(self.sandbox.home()), cwd="/",
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        child.close()
        parent.settimeout(STARTUP_SECONDS)
        self._control = parent

    def _request(self, msg: dict[str, Any], fds: list[int] = ()) -> dict[str, Any]:
        assert self._control is not None
        socket.send_fds(self._control, [json.dumps(msg).encode()], list(fds))
        data = self._control.recv(4096)
        if not data:
            raise ConnectionError("the worker zygote exited")
        return json.loads(data)

    def start(self) -> "WorkerPool":
        """Start the zygote now, without waiting for its imports: they overlap whatever the harness does next."""
        with self._lock:
            if self._control is None:
                self._start()
        return self

    def fork(self, files: list[str] = ()) -> tuple[int, Any]:
        """A fresh worker: (its pid in the zygote's namespace, the harness's end of its pipe). ``files``: the cell's code
        files (plugin files, the attack's, track's and defense's modules), whose folders its private /tmp binds back."""
        from multiprocessing.connection import Connection

        with self._lock:
            for attempt in (0, 1):
                if self._control is None:
                    self._start()
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    pid = int(self._request({"op": "cell", "files": [f for f in files if f]}, [theirs.fileno()])["pid"])
                    self._live.add(pid)
                    return pid, Connection(ours.detach())
                except (OSError, ValueError, KeyError):
                    ours.close()
                    self.close()  # a zygote that does not answer is replaced, once
                    if attempt:
                        raise
                finally:
                    theirs.close()
        raise AssertionError("unreachable")

    def kill(self, pid: int) -> None:
        with self._lock:
            self._live.discard(pid)
            try:
                self._request({"op": "kill", "pid": pid})
            except (OSError, ValueError):
                self.close()  # cannot reach it: end the zygote and everything it started

    def exit_code(self, pid: int, wait: bool = True) -> int | None:
        with self._lock:
            try:
                return self._request({"op": "status", "pid": pid, "wait": wait}).get("code")
            except (OSError, ValueError, AttributeError):
                return None

    def close(self) -> None:
        self._live.clear()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._proc.wait()
            self._proc = None

    def isolation(self) -> dict[str, Any]:
        kind = self.sandbox.kind if self.sandbox else "none"
        return {"mode": "process", "sandbox": None if kind == "none" else kind, "sandboxed": kind != "none"}

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass


_POOLS: dict[tuple, WorkerPool] = {}


def _close_idle(but: WorkerPool) -> None:
    """End the zygote of every other pool with no worker running; a session that forks there again restarts it."""
    for pool in list(_POOLS.values()):
        if pool is not but and pool._proc is not None and pool._lock.acquire(blocking=False):
            try:
                if not pool.busy:
                    pool.close()
            finally:
                pool._lock.release()


@atexit.register
def _close_pools() -> None:
    from ._sandbox import remove_homes

    for pool in list(_POOLS.values()):
        pool.close()
    _POOLS.clear()
    remove_homes()


def _test_files() -> list[str]:
    """Files of modules defined outside the import path (pytest's importlib mode) the worker may need."""
    return [m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None) and m.__name__.startswith(("tests.", "privbench_plugin_"))]
