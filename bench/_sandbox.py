"""Where the machine offers one, the attack's worker runs sandboxed: no network, no cache, run folder or home.

Two mechanisms, picked at run time by what works here (``PRIVBENCH_SANDBOX`` = ``auto`` | ``bwrap`` |
``nobody`` | ``off`` overrides):

- ``bwrap`` (Debian's bubblewrap): a read-only view of ``/`` in new user, pid, network, IPC and UTS
  namespaces as ``nobody``; ``/tmp``, the home directory, the model cache and the run folder are
  replaced by empty tmpfs mounts (the code the worker imports is bound back in, read-only).
- ``nobody`` (root without bubblewrap): ``unshare`` a network, pid and mount namespace and drop to the
  ``nobody`` user; the cache and run folder are made ``0700`` so only their owner reads them.

A probe starts Python in the sandbox once per process and checks that it imports the harness, so a
mechanism that is installed but refused (no user namespaces, say) falls through to the next.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ._seccomp import _CALLS

__all__ = ["Sandbox", "detect", "worker_env", "python_paths", "keep_paths", "private_scratch", "seal_cell", "SANDBOX_ENV", "NOBODY", "SCRATCH_ROOTS"]

SANDBOX_ENV = "PRIVBENCH_SANDBOX"
NOBODY = 65534
# Environment a worker inherits; nothing that names the cache, the run folder or credentials.
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "CUDA_VISIBLE_DEVICES", "PYTHONHASHSEED", "PRIVBENCH_DISABLE_PLUGINS")


@dataclass(frozen=True)
class Sandbox:
    """A way to start the worker: ``kind`` is ``bwrap``, ``nobody`` or ``none`` (not sandboxed)."""

    kind: str

    @property
    def sandboxed(self) -> bool:
        return self.kind != "none"

    def command(self, argv: list[str], *, hide: Iterable[str | os.PathLike[str]] = (), keep: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
        """``argv`` wrapped in this sandbox; ``hide``: folders the worker must not read; ``keep``: code it must."""
        hide = [str(Path(p).resolve()) for p in hide]
        if self.kind == "bwrap":
            return _bwrap(argv, hide, [str(Path(p).resolve()) for p in keep if Path(p).exists()])
        if self.kind == "nobody":
            for path in hide:
                _lock(path)
            return ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child", "--",
                    "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs", "--pdeathsig", "SIGKILL", "--", *argv]
        return list(argv)

    def covers(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is hidden without being named: bwrap replaces /tmp and the home folder wholesale."""
        return self.kind == "bwrap" and _under(str(Path(path).resolve()) + "/", ["/tmp", str(Path.home().resolve())])

    def home(self) -> str:
        """The worker's HOME: an empty tmpfs in bwrap, else a fresh private folder it owns."""
        if self.kind == "bwrap":
            return "/tmp"
        import tempfile

        home = tempfile.mkdtemp(prefix="privbench-worker-home-")
        if self.kind == "nobody":
            os.chown(home, NOBODY, NOBODY)
        _HOMES.append(home)
        return home


_HOMES: list[str] = []  # worker homes this process made; removed when its worker pools close


def remove_homes(*homes: str) -> None:
    """Remove the worker homes this process made (``homes``: only these; none given: all)."""
    import shutil

    for home in [h for h in _HOMES if h in homes] if homes else list(_HOMES):
        _HOMES.remove(home)
        shutil.rmtree(home, ignore_errors=True)


def _gpu_devices() -> list[str]:
    """The host's GPU device nodes (NVIDIA's control, per-GPU and unified-memory nodes; DRI render nodes)."""
    import glob

    return sorted(glob.glob("/dev/nvidia*")) + (["/dev/dri"] if os.path.isdir("/dev/dri") else [])


# bwrap run by root covers /proc/irq and /proc/bus with read-only binds, so its /proc is not "fully visible" and the
# kernel lets no cell mount a /proc of its own (seal_cell). The host's /proc, bound read-only and then covered (a
# tmpfs over the folder above it: no path leads there, and the sandbox may unmount nothing), is the fully visible one
# the kernel wants. Not reachable: through it the host's processes' roots led to the host's files, as root.
# bwrap run by anyone else covers nothing.
_PROC_WITNESS = "/tmp/.privbench-proc-witness"


def _bwrap(argv: list[str], hide: list[str], keep: list[str]) -> list[str]:
    home = str(Path.home().resolve())
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--uid", str(NOBODY), "--gid", str(NOBODY),
           "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "01777", "--tmpfs", "/tmp"]
    if os.getuid() == 0:
        # Its sandbox's root is the host's (uid 0 to the kernel), and the kernel settings in /proc/sys check no more
        # than that: a plugin's import, in the sandbox that describes it, wrote the host's sysctls (core_pattern runs
        # a program as root). bwrap covers /proc/sys only when it cannot write it.
        cmd += [arg for path in ("/proc/sys", "/proc/sysrq-trigger") if os.path.exists(path) for arg in ("--ro-bind", path, path)]
        cmd += ["--tmpfs", "/run"] if os.path.isdir("/run") and not os.path.islink("/run") else []  # root's daemons' sockets
        cmd += ["--ro-bind", "/proc", _PROC_WITNESS + "/proc", "--perms", "0000", "--tmpfs", _PROC_WITNESS]
    for dev in _gpu_devices():  # bwrap's /dev has only the basic nodes: a GPU attack needs the driver's too
        cmd += ["--dev-bind", dev, dev]
    if home != "/":
        cmd += ["--tmpfs", home]
    for path in keep:  # code under a hidden folder (a venv in $HOME, a plugin file in /tmp) is bound back, read-only
        if _under(path, ["/tmp", home]):
            cmd += ["--ro-bind", path, path]
    for path in hide:  # last, so a hidden folder stays hidden even inside a kept one (the home is hidden above)
        if path != home and os.path.isdir(path):
            cmd += ["--tmpfs", path]
    return [*cmd, "--chdir", "/tmp", "--", *argv]


def _under(path: str, roots: list[str]) -> bool:
    """Strictly inside one of ``roots`` (binding a root itself back would undo its hiding)."""
    return any(path.startswith(r.rstrip("/") + "/") for r in roots if r != "/")


def _lock(path: str) -> None:
    """Make a folder the harness owns unreadable to others (the ``nobody`` sandbox relies on permissions)."""
    try:
        st = os.stat(path)
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(path, st.st_mode & 0o700)
    except FileNotFoundError:
        pass


SCRATCH_ROOTS = ("/tmp", "/var/tmp", "/dev/shm")  # the world-writable folders a cell could leave a file in
_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWIPC, _CLONE_NEWNET, _CLONE_NEWPID, _CLONE_NEWUTS = 0x00020000, 0x10000000, 0x08000000, 0x40000000, 0x20000000, 0x04000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND, _MS_REC = 1, 2, 4, 8, 32, 4096, 16384
_SYS_KEYCTL = {machine: calls["keyctl"] for machine, calls in _CALLS.items()}  # numbered per architecture, unlike mount_setattr
_KEYCTL_JOIN_SESSION_KEYRING = 1
_SYS_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1  # mount_setattr(2), Linux >= 5.12


def private_scratch(keep: Iterable[str]) -> bool:
    """In one cell's child of the zygote: fresh, empty ``/tmp``, ``/var/tmp`` and ``/dev/shm`` that die with it.

    The zygote's children share its view of the filesystem, so without this an attack's run against one target
    could leave a file that its run against the next target reads. On the pool design that is membership itself:
    target 1's shadows include target 2, with its inclusion row. A new user and mount namespace (unprivileged: it
    maps only the cell's own uid) lets the child mount tmpfs over each folder; folders in ``keep`` (code the cell
    imports from there) are bound back read-only, through descriptors opened before they were covered. Every other
    mount turns read-only (bwrap's tmpfs home and /dev, a host's /run/lock were as good as /tmp); new IPC and network
    namespaces take System V shared memory and abstract unix sockets; a new pid namespace, entered by the caller's
    next fork, ends whatever the cell started (a daemon kept rows for the next cell) when the cell does; that child
    then runs ``seal_cell``. Returns whether it all worked (the record says so).
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    roots = [r for r in SCRATCH_ROOTS if os.path.isdir(r) and not os.path.islink(r)]
    real = {os.path.realpath(p) for p in keep}
    kept = sorted(p for p in real if os.path.isdir(p) and _under(p, roots))
    fds: dict[str, int] = {}
    uid, gid = os.getuid(), os.getgid()
    entered = done = False
    try:
        # and its own host name: cells that shared the zygote's wrote membership into it for the next (AUC 0.794)
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWNET | _CLONE_NEWUTS):
            return False
        entered = True
        # opened in the new mount namespace (a bind's source must be one of its mounts), before the roots are covered
        fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in kept}
        _map_ids(uid, gid)
        # entered by the next fork: that child is the namespace's init (seal_cell)
        done = _cover(libc, roots, fds) and libc.unshare(_CLONE_NEWPID) == 0
    except OSError:
        pass
    finally:
        for fd in fds.values():
            os.close(fd)
    if entered and not done and libc.unshare(_CLONE_NEWUSER):  # half set up: drop the capabilities it gave the cell
        _refuse("a nested user namespace")
    if not done:
        return False
    try:  # re-resolve the working folder: a cwd under a root still pointed into the zygote's shared one
        os.chdir(os.getcwd())
    except OSError:
        os.chdir("/")
    return True


def _cover(libc: Any, roots: list[str], fds: dict[str, int]) -> bool:
    """Every mount read-only; a tmpfs over each scratch root, the cell's only writable folders; its code bound back."""
    import ctypes

    attr = (ctypes.c_uint64 * 4)(_MOUNT_ATTR_RDONLY, 0, 0, 0)  # struct mount_attr: set, clear, propagation, userns_fd
    if libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", _AT_RECURSIVE, attr, ctypes.sizeof(attr)):
        return False
    for root in roots:
        if libc.mount(b"tmpfs", root.encode(), b"tmpfs", 0, b"mode=1777"):
            return False
    for path, fd in fds.items():
        os.makedirs(path, exist_ok=True)
        if libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, _MS_BIND | _MS_REC, None):
            return False
        libc.mount(None, path.encode(), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY, None)  # may be refused: already read-only under bwrap
    return True


def seal_cell() -> bool:
    """In the first process of the cell's pid namespace (after ``private_scratch``), before the cell is forked: the
    cell sees only its own processes, and nothing it could carry to the next cell stays writable.

    The sandbox's /proc showed every process of the sandbox, the spare forked for the next cell among them (same
    uid: its memory was writable through /proc/<pid>/mem once the cell cleared its /proc's read-only flag, which
    it could: /proc was its own mount), and kernel settings shared with later cells (oom_score_adj, autogroup;
    under bwrap run by root, the host's sysctls passed the permission check). So a fresh /proc of this pid
    namespace, read-only, covers it; a nested user and mount namespace then locks every mount as it is: read-only
    flags cannot be cleared, nothing unmounted to reach what is below. The nested namespace maps no ids (its /proc
    is read-only to write them: the cell's uid reads as the overflow uid, 65534, which the sandboxes give it
    anyway; files keep their real owner). Its own session (autogroup) and session keyring, not the zygote's."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ok = libc.mount(b"proc", b"/proc", b"proc", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None) == 0
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS):
        _refuse("a nested user namespace")
    keyctl = _SYS_KEYCTL.get(os.uname().machine)  # a key left in the zygote's session keyring was read by the next cell
    ok = keyctl is not None and libc.syscall(keyctl, _KEYCTL_JOIN_SESSION_KEYRING, None) >= 0 and ok
    try:
        os.setsid()  # the autogroup's nice value was the zygote's, writable by its cells (a process group leader cannot)
    except OSError:
        ok = False
    from ._seccomp import deny_keys_and_namespaces

    return deny_keys_and_namespaces() and ok  # keys: the host's keyrings are reachable by id, whatever the namespace


def _refuse(what: str) -> None:
    """The cell would run holding capabilities over its own mounts (it could undo every lock): it does not run."""
    os.write(2, f"privbench: the kernel refused {what} for this cell's sandbox; the cell did not run. Allow nested "
                f"user namespaces (user.max_user_namespaces) or pick another sandbox (--sandbox).\n".encode())
    os._exit(70)


def _map_ids(uid: int, gid: int) -> None:
    """In a new user namespace: the caller keeps its own uid and gid (and no supplementary groups)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def python_paths() -> list[str]:
    """This interpreter's import path, absolute: the worker imports the same code (plugins, test modules)."""
    out = []
    for p in sys.path:
        p = os.path.abspath(p or os.getcwd())
        if os.path.exists(p) and p not in out:
            out.append(p)
    return out


def worker_env(home: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    # OpenMP threads that spin while they wait (libgomp's default) take the cores from the thread they wait for
    # on a shared, loaded machine: 2 threads on 2 cores at load 18 trained mlleaks-adv2's shadow 6x slower than
    # 1 thread, and its cell timed out. Waiting threads sleep instead; the arithmetic (and so the numbers) is the same.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # The zygote warms torch, then forks every cell. Asking whether CUDA is there through the CUDA runtime (Adam's
    # step does) marks a process as one whose forks cannot use CUDA: on an H100 every attack in a worker raised
    # "Cannot re-initialize CUDA in forked subprocess". Asked through NVML, the zygote stays fork-safe.
    env.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    env.update(HOME=home, TMPDIR="/tmp", PYTHONPATH=os.pathsep.join(python_paths()), PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    return env


def keep_paths() -> list[str]:
    """Folders the worker's interpreter must be able to read: its import path, the interpreter, and the sources
    that an editable install maps from outside the import path (``pip install -e`` of a checkout under /tmp)."""
    return [*python_paths(), *_source_roots(), sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))]


def _source_roots() -> list[str]:
    roots = {str(Path(__file__).resolve().parents[1])}  # the folder holding this package
    for name, module in list(sys.modules.items()):
        mapping = getattr(module, "MAPPING", None)  # setuptools' editable finders: top-level name -> source folder
        if name.startswith("__editable__") and isinstance(mapping, dict):
            roots |= {str(Path(p).resolve().parent) for p in mapping.values() if isinstance(p, str)}
    return sorted(roots)


@functools.lru_cache(maxsize=None)
def _works(kind: str) -> bool:
    if kind == "bwrap" and not _which("bwrap") or kind == "nobody" and (os.getuid() != 0 or not _which("unshare") or not _which("setpriv")):
        return False
    box = Sandbox(kind)
    probe = "import socket, bench._zygote; s = socket.socket(); s.settimeout(1)\ntry:\n s.connect(('1.1.1.1', 53)); print('net')\nexcept OSError: print('ok')"
    try:
        out = subprocess.run(box.command([sys.executable, "-c", probe], keep=keep_paths()), env=worker_env(box.home()),
                             capture_output=True, text=True, timeout=120, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "ok"


def _which(name: str) -> bool:
    import shutil

    return shutil.which(name) is not None


def detect(preference: str | None = None) -> Sandbox:
    """The strongest sandbox that works here (``preference``/``$PRIVBENCH_SANDBOX``: auto, bwrap, nobody, off)."""
    pref = (preference or os.environ.get(SANDBOX_ENV) or "auto").strip().lower()
    if pref in ("off", "none", "0", "false"):
        return Sandbox("none")
    if pref not in ("auto", "bwrap", "nobody"):
        raise ValueError(f"unknown sandbox {pref!r} (from {SANDBOX_ENV} or Plan.sandbox); expected auto, bwrap, nobody or off")
    for kind in ("bwrap", "nobody") if pref == "auto" else (pref,):
        if _works(kind):
            return Sandbox(kind)
    return Sandbox("none")
