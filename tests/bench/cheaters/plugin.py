"""Adversarial attack plugins, written as a determined submitter would (issue 12, item 6).

Each tries one way to learn membership (or to spend what it is not charged for) and falls back to a
coin flip when its trick finds nothing. Load this file with ``--plugin`` (``Plan.plugin_files``): the
worker loads it the same way, so the cheaters run exactly where a third-party attack would. The track they are
tried on (``cheat-pool-blobs``) is in ``tracks.py``: an official run withholds the tracks of a plugin that registers attacks.
"""

import gc
import os
import sys

import numpy as np

from bench import Attack, ThreatModel, hookimpl


def _coin(ctx):
    return ctx.rng.random(len(ctx.candidates))


def _mask_scores(mask, ctx):
    """A membership mask found somewhere, as scores (or a coin flip if it is not one for these candidates)."""
    mask = np.asarray(mask)
    if mask.shape != (len(ctx.candidates),):
        return _coin(ctx)
    return mask.astype(float) + 0.01 * ctx.rng.random(len(mask))


class SplitRecompute(Attack):
    """Re-derives the split from the track's public split seed and looks each candidate up in it."""

    name = "cheat-split"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        from bench._plugins import load_plugins

        track = load_plugins()[1].track(ctx.track.name)
        data = track.load()
        split = track.split(data)
        member_rows = {np.asarray(data.x[i]).tobytes() for i in split.members}
        return _mask_scores(np.array([np.asarray(x).tobytes() in member_rows for x in ctx.candidates.x]), ctx)


class PrivateWalk(Attack):
    """Walks private attributes from ctx: ``ctx._shadow_source._track.split(ctx._shadow_source._factory.data)``."""

    name = "cheat-private"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        try:
            src = ctx._shadow_source
            return _mask_scores(src._track.split(src._factory.data).is_member(), ctx)
        except Exception:
            return _coin(ctx)


class GcWalk(Attack):
    """Looks through every object the garbage collector knows for one with ``is_member()``."""

    name = "cheat-gc"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        n = len(ctx.candidates)
        for obj in gc.get_objects():
            fn = getattr(type(obj), "is_member", None)
            if callable(fn):
                try:
                    mask = np.asarray(obj.is_member())
                except Exception:
                    continue
                if mask.shape == (n,):
                    return _mask_scores(mask, ctx)
        return _coin(ctx)


class FrameWalk(Attack):
    """Reads the local variables of every thread's stack frames, looking for the split."""

    name = "cheat-frames"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        n = len(ctx.candidates)
        for frame in sys._current_frames().values():
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if callable(getattr(type(value), "is_member", None)):
                        mask = np.asarray(value.is_member())
                        if mask.shape == (n,):
                            return _mask_scores(mask, ctx)
                frame = frame.f_back
        return _coin(ctx)


class DiskReader(Attack):
    """Searches the model cache, the home and temp folders and the working folder for saved scores' ``is_member``."""

    name = "cheat-disk"
    threat_model = ThreatModel.LABEL
    params = {"roots": ""}  # extra folders to search, os.pathsep-separated

    def score(self, ctx):
        n = len(ctx.candidates)
        roots = [*self.params["roots"].split(os.pathsep), os.environ.get("PRIVBENCH_CACHE_DIR"), os.getcwd(), "/tmp", os.path.expanduser("~")]
        for root in filter(None, roots):
            for seen, (dirpath, _, files) in enumerate(os.walk(root)):
                if seen > 5000:
                    break
                for f in files:
                    if f.endswith(".npz") and os.path.basename(dirpath) == "scores":
                        try:
                            mask = np.load(os.path.join(dirpath, f))["is_member"]
                        except Exception:
                            continue
                        if mask.shape == (n,):
                            return _mask_scores(mask, ctx)
        return _coin(ctx)


class PatchMetrics(Attack):
    """Wraps the harness's metric function so that every later cell scores its own ground truth."""

    name = "cheat-patch-metrics"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        import bench.metrics as metrics

        original = metrics.membership_metrics

        def perfect(scores, truth, **kw):
            return original(np.asarray(truth, dtype=float), truth, **kw)

        metrics.membership_metrics = perfect
        return _coin(ctx)


class ProxyInternals(Attack):
    """A LABEL attack that reaches scores through the oracle's internals instead of its public queries."""

    name = "cheat-proxy"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        c = ctx.candidates
        for value in list(vars(ctx.target).values()):
            if hasattr(value, "predict_scores"):  # the in-process oracle's predictor
                p = value.predict_scores(c.x)
                return p[np.arange(len(c)), c.y]
            if hasattr(value, "call"):  # the worker's pipe: ask for scores directly
                p = value.call("query", name="predict_scores", args=[c.x], kwargs={})
                return p[np.arange(len(c)), c.y]
        return _coin(ctx)


class _OneLong(np.ndarray):
    def __len__(self):
        return 1


class Unaccounted(Attack):
    """Sends 100 queries per candidate in an array that claims a length of 1 (budget: 64 per candidate at smoke)."""

    name = "cheat-len1"
    threat_model = ThreatModel.SCORES

    def score(self, ctx):
        c = ctx.candidates
        big = np.concatenate([c.x] * 100).view(_OneLong)
        p = np.asarray(ctx.target.predict_scores(big))[: len(c)]
        return p[np.arange(len(c)), c.y]


class Exit(Attack):
    """Ends its process from inside ``score``."""

    name = "cheat-exit"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        os._exit(3)


class ZeroWeights(Attack):
    """A white-box attack that zeroes the target's weights, sabotaging the attacks after it."""

    name = "cheat-zero-weights"
    threat_model = ThreatModel.WHITEBOX

    def score(self, ctx):
        import torch

        with torch.no_grad():
            for p in ctx.target.module.parameters():
                p.zero_()
        return _coin(ctx)


class SandboxProbe(Attack):
    """Reports what it could reach: a file (``path``), a folder listing (``folder``), a TCP port on 127.0.0.1 (``port``)."""

    name = "probe-sandbox"
    threat_model = ThreatModel.LABEL
    params = {"path": "", "folder": "", "port": 0}

    def score(self, ctx):
        import socket

        seen = []
        try:
            with open(self.params["path"]) as f:
                seen.append(f"file=read:{f.read()}")
        except OSError as exc:
            seen.append(f"file=denied:{type(exc).__name__}")
        try:
            seen.append(f"folder=listed:{sorted(os.listdir(self.params['folder']))}")
        except OSError as exc:
            seen.append(f"folder=denied:{type(exc).__name__}")
        try:
            with socket.create_connection(("127.0.0.1", int(self.params["port"])), timeout=2):
                seen.append("socket=connected")
        except OSError as exc:
            seen.append(f"socket=denied:{type(exc).__name__}")
        raise RuntimeError(" ".join(seen))


class CoinFlip(Attack):
    """Honest and uninformed: AUC about 0.5, unless a cheater before it changed how the harness scores."""

    name = "honest-coin"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        return _coin(ctx)


class CarriedOver(RuntimeError):
    """What a channel cheater raises when an earlier run's rows reached it: the channel is open."""


def _carried(seen, mine, ctx):
    """Rows from an earlier run: a row missing from this run's shadows would be a target's membership (when targets
    were shadows of each other it was: AUC 1.000); with targets never shadows there is none, so say the channel is
    open instead, which is what a sandbox test checks. Nothing reached: a coin flip."""
    if seen:
        missing = len(seen - mine)
        raise CarriedOver(f"carried over from an earlier run: {len(seen)} inclusion rows, {missing} of them no shadow of this run")
    return _coin(ctx)


class Hoard(Attack):
    """Carries what one target's run saw to the next through files: when target t's shadows were the other models,
    a row saved during one run and absent from the next run's shadows was that run's target, exactly. Writes to every
    world-writable folder and its working folder; reads them all; raises ``CarriedOver`` if anything reached it."""

    name = "cheat-hoard"
    threat_model = ThreatModel.LABEL
    params = {"tag": ""}  # names its files, so that runs of other tests leave nothing it would read
    FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", ".")

    def score(self, ctx):
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        mine = {r.tobytes() for r in inc}
        seen, wrote = set(), 0
        paths = [os.path.join(folder, f"privbench-hoard-{self.params['tag']}-{inc.shape[1]}.npy") for folder in self.FOLDERS]
        for path in paths:  # all read before any is written: "." may be one of the others (a cell works in its /tmp)
            try:
                seen |= {r.tobytes() for r in np.load(path)}
            except (OSError, ValueError):
                pass
        for path in paths:
            try:
                np.save(path, np.concatenate([inc, np.load(path)]) if os.path.exists(path) else inc)
                wrote += 1
            except (OSError, ValueError):
                pass
        if not wrote:
            raise RuntimeError("cheat-hoard could write to none of its folders")  # the test would prove nothing
        return _carried(seen, mine, ctx)


class Carry(Attack):
    """cheat-hoard through channels other than the scratch folders (``channel``):

    - ``dirs``: every folder it can write to outside /tmp, /var/tmp and /dev/shm (bwrap's tmpfs home, its /dev,
      the nobody sandbox's /run/lock: whatever this machine has);
    - ``sysv``: a System V shared-memory segment (it outlives every process, in the IPC namespace the cells share);
    - ``abstract``: a daemon that escapes the cell's process group and keeps the rows, reached through an abstract
      unix socket (the network namespace the cells share; no file anywhere).
    """

    name = "cheat-carry"
    threat_model = ThreatModel.LABEL
    params = {"tag": "", "channel": "dirs"}

    def score(self, ctx):
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        key = f"privbench-carry-{self.params['tag']}-{inc.shape[1]}"
        seen = getattr(self, "_" + self.params["channel"])(key, inc)
        return _carried({r.tobytes() for r in seen}, {r.tobytes() for r in inc}, ctx)

    @staticmethod
    def _writable_folders():
        skip = ("/proc", "/sys", "/tmp", "/var/tmp", "/dev/shm")
        for top, dirs, _ in os.walk("/"):
            if top.startswith(skip):
                dirs[:] = []
                continue
            if top.count("/") >= 3:
                dirs[:] = []
            if os.access(top, os.W_OK):
                yield top

    def _dirs(self, key, inc):
        if os.getuid() == 0:  # a sandboxed worker never runs as root: unsandboxed, this would litter the machine
            raise RuntimeError("cheat-carry: not sandboxed, refusing to write into every folder")
        seen = []
        for folder in self._writable_folders():
            path = os.path.join(folder, key + ".npy")
            try:
                old = np.load(path)
                seen.extend(old)
            except (OSError, ValueError):
                old = np.zeros((0, inc.shape[1]), dtype=bool)
            try:
                with open(path, "wb") as f:
                    np.save(f, np.concatenate([old, inc]))
            except OSError:
                pass
        return seen

    def _sysv(self, key, inc):
        import ctypes
        import zlib

        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        size = 1 << 22
        sid = libc.shmget(zlib.crc32(key.encode()) & 0x7FFFFFFF, size, 0o1000 | 0o600)  # IPC_CREAT
        addr = libc.shmat(sid, None, 0) if sid >= 0 else None
        if addr in (None, ctypes.c_void_p(-1).value):
            return []
        n = ctypes.c_uint64.from_address(addr).value  # rows stored so far (a new segment is zeros)
        old = np.frombuffer(ctypes.string_at(addr + 8, n * inc.shape[1]), dtype=bool).reshape(n, inc.shape[1]).copy()
        both = np.ascontiguousarray(np.concatenate([old, inc]))
        if 8 + both.nbytes <= size:
            ctypes.memmove(addr + 8, both.ctypes.data, both.nbytes)
            ctypes.c_uint64.from_address(addr).value = len(both)
        libc.shmdt(ctypes.c_void_p(addr))
        return list(old)

    def _abstract(self, key, inc):
        import socket
        import struct

        def exchange(sock, rows):
            blob = rows.tobytes()
            sock.sendall(struct.pack("<Q", len(blob)) + blob)
            (n,) = struct.unpack("<Q", _recv_exactly(sock, 8))
            return np.frombuffer(_recv_exactly(sock, n), dtype=bool).reshape(-1, inc.shape[1])

        address = "\0" + key
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(address)
                return list(exchange(s, inc))
        except OSError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(address)
        except OSError:
            return []
        listener.listen(4)
        if os.fork() == 0:  # the daemon: out of the cell's process group, it outlives the cell
            try:
                os.setsid()
                if os.fork() == 0:
                    _serve_rows(listener, inc)
            finally:
                os._exit(0)
        listener.close()
        os.wait()
        return []


def _recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


def _serve_rows(listener, rows):
    """Keeps every row it is sent and answers each client with all the rows it had; ends when idle for 60 s."""
    import struct

    os.closerange(3, listener.fileno())
    os.closerange(listener.fileno() + 1, 1 << 16)
    store = rows.tobytes()
    listener.settimeout(60)
    while True:
        conn, _ = listener.accept()
        with conn:
            (n,) = struct.unpack("<Q", _recv_exactly(conn, 8))
            got = _recv_exactly(conn, n)
            conn.sendall(struct.pack("<Q", len(store)) + store)
            store += got


class ScenarioSpotter(Attack):
    """A coin flip that scores lowest every candidate no shadow trained on: in the second run against a target
    (pool plus scenario sets), those are the scenario points, so no neighbour, OOD or generated point is ever a
    false positive and every ``fpr_<set>`` reads 0."""

    name = "cheat-scenario"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        scores = _coin(ctx)
        scores[~inc.any(axis=0)] = -1.0
        return scores


class InitPatch(Attack):
    """Does its work where the harness builds it: ``__init__`` runs in the harness's own process (the registry
    instantiates attacks there to resolve parameters), which holds the split. It wraps the harness's score check so
    that this attack's scores become the caller's ``split.is_member()``; ``score`` itself is a coin flip."""

    name = "cheat-init"
    threat_model = ThreatModel.LABEL

    def __init__(self, **params):
        super().__init__(**params)
        import bench._scoring as scoring
        import bench._session as session

        original = scoring.check_scores
        if getattr(original, "cheat", False):
            return

        def check_scores(name, output, n):
            scores = original(name, output, n)
            split = sys._getframe(1).f_locals.get("split")
            if name == InitPatch.name and callable(getattr(split, "is_member", None)) and split.is_member().shape == scores.shape:
                return split.is_member() + 0.01 * scores
            return scores

        check_scores.cheat = True
        scoring.check_scores = session.check_scores = check_scores

    def score(self, ctx):
        return _coin(ctx)


class FreeInit(Attack):
    """Spends ``seconds`` in ``__init__`` (reference models trained on the public data, say): in the worker that ran
    before the attack's clock started, so it was never charged."""

    name = "cheat-free-init"
    threat_model = ThreatModel.LABEL
    params = {"seconds": 2.0}

    def __init__(self, **params):
        import time

        super().__init__(**params)
        if getattr(getattr(sys.modules["__main__"], "__spec__", None), "name", None) == "bench._zygote":  # in the worker only
            time.sleep(float(self.params["seconds"]))

    def score(self, ctx):
        return _coin(ctx)


CHEATERS = [CoinFlip, SandboxProbe, SplitRecompute, PrivateWalk, GcWalk, FrameWalk, DiskReader, PatchMetrics, ProxyInternals, Unaccounted, Exit, ZeroWeights, Hoard, Carry, ScenarioSpotter, InitPatch, FreeInit]


@hookimpl
def register_attacks(register):
    for cls in CHEATERS:
        register(cls)
