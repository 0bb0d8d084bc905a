"""The program that runs attacks: ``python -m bench._zygote FD``, started (sandboxed) by ``bench._worker``.

A fresh interpreter, spawned, never forked from the harness: it imports numpy, torch and the installed
plugins once, holds no data, split or path of the harness, and forks one child per cell (the design of
``multiprocessing``'s forkserver), so a cell starts in milliseconds and no cell sees another's state.

Control messages (JSON over a SOCK_SEQPACKET socket): ``{"op": "cell", "files": [...]}`` with the cell's
socket attached (SCM_RIGHTS) hands it to a child and answers its pid; ``kill`` kills a child's process
group; ``status`` answers a finished child's exit status. The child builds the attack's context from what
the harness sends (``bench._proxy``), runs ``attack.score(ctx)`` and sends back the result as data.

A spare child is always forked ahead (``_Spare``): it sets up its private scratch (``--scratch``: the
sandboxed pools) while the harness is still busy with the previous cell, then waits for its cell's socket.
Only a spare whose bound-back folders cover the cell's files takes it; otherwise a child is forked then.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import inspect
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any

__all__ = ["main", "run_cell"]


# Imported once here, not in every cell: what attacks commonly import lazily (a missing one is skipped).
PRELOAD = ("numpy", "scipy.stats", "torch", "torch.func", "torch.utils.serialization", "sklearn.neural_network", "sklearn.linear_model",
           "sklearn.pipeline", "sklearn.preprocessing", "sklearn.metrics", "bench.training", "bench.metrics", "bench.signals", "bench._context",
           "bench._models", "bench._proxy", "bench._sandbox", "plugins.attacks._shared")


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - optional for attacks that do not need it
            pass
    from ._warm import warm_torch

    warm_torch()
    from ._plugins import load_plugins

    global _REGISTRY
    # privbench's own plugins, imported once: each cell's child inherits them. Another distribution's code is imported
    # only in a cell's child, after its sandbox is set up (_resolve): imported here, it could rewrite the zygote's fork
    # and isolation code for every cell after it.
    _REGISTRY = load_plugins(distributions=FIRST_PARTY)[1]
    global _KEEP
    from ._sandbox import keep_paths

    _KEEP = tuple(keep_paths())  # once: it scans sys.modules (15 ms a cell)


_REGISTRY: Any = None
_KEEP: tuple[str, ...] = ()
FIRST_PARTY = ("privbench",)


def main(control_fd: int, scratch: bool = False) -> None:
    import gc

    _preload()
    gc.freeze()  # what the children inherit is never scanned by their collector: no copy-on-write of the preloaded heap
    control = socket.socket(fileno=control_fd)
    finished: dict[int, int] = {}
    spare = _Spare.fork(control, scratch, ())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
        except (ConnectionError, OSError):
            return
        if not data:
            return  # the harness closed the control socket: its session is over
        _reap(finished)
        msg = json.loads(data)
        if msg.get("op") == "cell" and fds:
            folders = cell_folders(msg.get("files") or [])
            if spare is not None and spare.covers(folders):
                pid = spare.take(fds[0])
            else:
                if spare is not None:  # before the fork: the cell would inherit the spare's socket, and could hand it a pipe
                    spare.discard()
                pid = _fork_cell(control, fds[0], scratch, folders)
            control.send(json.dumps({"pid": pid}).encode())
            spare = _Spare.fork(control, scratch, folders)  # the next cell's, set up while this one runs
        elif msg.get("op") == "kill":
            for sig_target in () if int(msg["pid"]) in finished else (-int(msg["pid"]), int(msg["pid"])):  # reaped: its pid may be reused
                try:
                    os.kill(sig_target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            control.send(b"{}")
        elif msg.get("op") == "status":
            pid = int(msg["pid"])
            if pid not in finished:
                try:
                    done, status = os.waitpid(pid, 0 if msg.get("wait") else os.WNOHANG)
                    if done:
                        finished[pid] = status
                except ChildProcessError:
                    pass
            status = finished.get(pid)
            control.send(json.dumps({"code": None if status is None else os.waitstatus_to_exitcode(status)}).encode())
        else:
            for fd in fds:
                os.close(fd)
            control.send(b'{"error": "unknown request"}')


class _Spare:
    """A child forked ahead of its cell: sandboxed and waiting on a socket for the cell's pipe."""

    def __init__(self, pid: int, sock: socket.socket, folders: tuple[str, ...]):
        self.pid, self.sock, self.folders = pid, sock, folders

    @classmethod
    def fork(cls, control: socket.socket, scratch: bool, folders: tuple[str, ...]) -> "_Spare":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid:
            theirs.close()
            return cls(pid, ours, folders)
        ours.close()

        def wait_for_cell() -> None:
            private = _private_scratch(folders) if scratch else None
            _, fds, _, _ = socket.recv_fds(theirs, 16, 1)
            theirs.close()
            if fds:  # none: the zygote ended or discarded this spare
                run_cell(fds[0], private)

        _child(control, wait_for_cell)
        raise AssertionError("unreachable")

    def covers(self, folders: tuple[str, ...]) -> bool:
        return set(folders) <= set(self.folders)

    def take(self, fd: int) -> int:
        socket.send_fds(self.sock, [b"cell"], [fd])
        os.close(fd)
        self.sock.close()
        return self.pid

    def discard(self) -> None:
        self.sock.close()  # it reads no socket, and exits


def _reap(finished: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        finished[pid] = status


def _fork_cell(control: socket.socket, fd: int, scratch: bool, folders: tuple[str, ...]) -> int:
    pid = os.fork()
    if pid:
        os.close(fd)
        return pid
    _child(control, lambda: run_cell(fd, _private_scratch(folders, fd) if scratch else None))
    raise AssertionError("unreachable")


def _child(control: socket.socket, work: Any) -> None:
    """A forked child's life, which never returns: its own process group (killed as one), no control socket."""
    code = 0
    try:
        os.setpgid(0, 0)
        control.close()
        work()
    except BaseException:  # noqa: BLE001 - run_cell reports the attack's errors itself; this is the pipe failing
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_cell(fd: int, private: bool | None = None) -> None:
    """Receive the cell, build the attack's context, score, send the result back as data. ``private``: whether
    this child's scratch folders are its own (set up already, while it was one thread; None: not sandboxed)."""
    from multiprocessing.connection import Connection

    from ._proxy import decode, encode

    conn = Connection(fd)
    init = decode(conn.recv_bytes())
    try:
        # the attack's clock starts here: its module (a --plugin file) and its __init__ run on it, not for free before
        conn.send_bytes(encode({"op": "ready", "private_tmp": private}))
        attack, ctx = _build(init, conn)
        output = attack.score(ctx)
        reply = {"op": "done", "output": _plain(output, attack.name, len(ctx.candidates)), "threshold": ctx.threshold, "exports": dict(ctx.exports)}
        conn.send_bytes(encode(reply))
    except BaseException as exc:  # noqa: BLE001 - an attack's error is its cell's record, whatever it is
        conn.send_bytes(encode({"op": "raised", "type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc(limit=-4)}))


def cell_folders(files: list[str]) -> tuple[str, ...]:
    """The folders of a cell's code files (its plugin files, the attack's, track's and defense's modules) that its
    private /tmp binds back; the import path and the harness's sources are always bound (``_KEEP``)."""
    from ._sandbox import SCRATCH_ROOTS, _under, keep_paths

    folders = {os.path.realpath(os.path.dirname(os.path.abspath(f))) for f in files if isinstance(f, str) and f}
    roots = list(SCRATCH_ROOTS)
    # what every cell binds back already; a scratch root itself is never bound (the zygote's cwd, /tmp, is on its path)
    kept = [k for k in (os.path.realpath(p) for p in _KEEP or keep_paths()) if _under(k, roots)]
    return tuple(sorted(f for f in folders if _under(f, roots) and f not in kept and not _under(f, kept)))


def cell_keep_paths(folders: tuple[str, ...]) -> list[str]:
    """The code a cell may still import once its /tmp is its own: the import path, the harness's own sources (an
    editable install maps them from outside sys.path: a checkout under /tmp), and the cell's code folders."""
    from ._sandbox import keep_paths

    return [*(_KEEP or keep_paths()), *folders]


def _private_scratch(folders: tuple[str, ...], fd: int | None = None) -> bool:
    """Fresh /tmp, /var/tmp and /dev/shm for this cell alone, its code bound back, the rest read-only; namespaces of
    its own. The cell runs on in a child, the first process of the new pid namespace after its init: when it ends,
    the kernel kills every process it left (none outlives the cell); its output goes through pipes of its own."""
    from ._cell_output import fork_with_own_output
    from ._sandbox import private_scratch, seal_cell

    if not private_scratch(cell_keep_paths(folders)):
        return False
    _wait_for(os.fork(), fd)  # this process waits, and ends as its child did (the zygote reports that status)
    libc = ctypes.CDLL(None)
    # The first process of the namespace is not the cell but its init, which dies with the process the zygote forked:
    # the kernel then kills the whole namespace, whatever the cell did to its own signals, group or session.
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    sealed = seal_cell()  # its own /proc, session and keyring; every mount locked
    sealed = libc.prctl(4, 0) == 0 and sealed  # not dumpable: the cell (same uid) cannot trace it, nor reach its output
    _wait_for(fork_with_own_output(), fd)
    libc.prctl(4, 1)  # the cell itself as usual (its /proc/self is its own)
    return sealed


def _wait_for(pid: int, fd: int | None) -> None:
    """In the parent (``pid``: the child): wait for the child and exit as it did. In the child: return."""
    if not pid:
        return
    if fd is not None:
        os.close(fd)  # the cell's pipe is the cell's alone: it ends when the cell does
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    os._exit(code if code >= 0 else 128 - code)


def _plain(output: Any, name: str, n: int) -> Any:
    """Scores as a plain array (or an integrity track's metrics dict) that can cross the pipe."""
    import numpy as np

    if isinstance(output, dict):
        return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in output.items()}
    if hasattr(output, "detach"):
        output = output.detach().cpu().numpy()
    arr = np.asarray(output)
    if arr.dtype.hasobject:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"attack {name!r} returned {type(output).__name__}, not an array of {n} numbers") from None
    return arr


def _build(init: dict[str, Any], conn: Any) -> tuple[Any, Any]:
    from ._api import Budget, ThreatModel
    from ._context import AttackContext
    from ._plugins import load_plugins
    from ._models import serve as serve_model
    from ._proxy import RemoteLedger, RemoteShadowSource, TargetProxy, _Channel, track_info_from_wire
    from ._warm import check_cuda

    if init.get("threads"):
        import torch

        torch.set_num_threads(int(init["threads"]))
    # The preloaded registry (this child's own copy) unless the run adds plugin files: discovery costs ~0.15 s a cell.
    registry = _REGISTRY if _REGISTRY is not None and not init["plugin_files"] else load_plugins(init["plugin_files"])[1]
    attack = _resolve(registry, "attacks", init["attack"])(**init["attack"]["params"])
    track = _resolve(registry, "tracks", init["track"])
    track = track() if inspect.isclass(track) else track
    track.configure(**init["track"]["params"])
    defense = _resolve(registry, "defenses", init["defense"])(**init["defense"]["params"])
    channel = _Channel(conn)
    budget = Budget(**init["budget"])
    device = init["device"]
    check_cuda(device)
    ctx = AttackContext(
        candidates=init["candidates"],
        population=init["population"],
        target=TargetProxy(channel, ThreatModel(init["threat_model"]), init["queries"], device,
                           serve=lambda m, prepared: serve_model(defense, track.predictor(m), prepared)),
        track=track_info_from_wire(init["track_info"]),
        ledger=RemoteLedger(budget, len(init["candidates"]), channel),
        seed=init["seed"],
        device=device,
        shadow_source=RemoteShadowSource(channel, track, defense, device),
    )
    return attack, ctx


def _resolve(registry: Any, kind: str, ref: dict[str, Any]) -> Any:
    """The registered class (or track instance) the harness used: by name, else by its module or file."""
    from ._api import PluginError

    try:
        obj = registry.get(kind, ref["name"]).obj
    except PluginError:
        obj = None
    cls = obj if obj is None or inspect.isclass(obj) else type(obj)
    if cls is not None and (cls.__module__, cls.__qualname__) == (ref["module"], ref["qualname"]):
        return obj
    if "<locals>" in ref["qualname"]:
        raise PluginError(
            f"{kind[:-1]} {ref['name']!r} is defined inside a function ({ref['qualname']}), so a worker process cannot import it;"
            " define it at module level or in a plugin file, or run with isolation='thread'"
        )
    module = sys.modules.get(ref["module"])
    if module is None:
        try:
            module = importlib.import_module(ref["module"])
        except ImportError:
            if not ref.get("file"):
                raise
            spec = importlib.util.spec_from_file_location(ref["module"], ref["file"])
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[ref["module"]] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]
    obj = module
    for part in ref["qualname"].split("."):
        obj = getattr(obj, part)
    return obj


if __name__ == "__main__":
    main(int(sys.argv[1]), "--scratch" in sys.argv[2:])
