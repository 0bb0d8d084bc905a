"""probe-escape: not a cheater that scores, a probe that reports (in its error) what a sealed cell can reach or undo.

Its inherited descriptors, working folder and root; whether it can take a mount off, clear a read-only flag, clone
the root mount without what covers it (open_tree: the folders below its private /tmp), mount a proc or tmpfs of its
own, enter another namespace (setns through /proc/1/ns), trace its namespace's init, write a device node, a cgroup,
a kernel setting, a uid map. Every mount call first checks that the cell's mount namespace is not the harness's
(``host_mnt``: the harness reads its own and passes it)."""

import ctypes
import json
import os

from bench import Attack, ThreatModel, hookimpl

_libc = ctypes.CDLL(None, use_errno=True)


def _err(rc):
    return "ok" if rc >= 0 else os.strerror(ctypes.get_errno())


def _try(fn):
    try:
        return fn()
    except OSError as e:
        return e.strerror


def _fds():
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError as e:
            out[fd] = e.strerror
    return out


def _mounts(host_mnt):
    if not host_mnt or os.readlink("/proc/self/ns/mnt") == host_mnt:
        return {"refused": "the harness's own mount namespace"}
    rdonly = (ctypes.c_uint64 * 4)(0, 1, 0, 0)  # clear MOUNT_ATTR_RDONLY
    clone = _libc.syscall(428, -100, b"/", 1)  # open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE): no AT_RECURSIVE
    seen = {
        "umount_tmp": _err(_libc.umount2(b"/tmp", 2)),
        "umount_proc": _err(_libc.umount2(b"/proc", 2)),
        "clear_ro_root": _err(_libc.syscall(442, -100, b"/", 0x8000, rdonly, ctypes.sizeof(rdonly))),
        "open_tree_root": _err(clone),
        "mount_proc": _err(_libc.mount(b"proc", b"/tmp", b"proc", 0, None)),
        "mount_tmpfs": _err(_libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)),
    }
    if clone >= 0:
        seen["below_tmp"] = _try(lambda: sorted(os.listdir(f"/proc/self/fd/{clone}/tmp"))[:20])
    return seen


class ProbeEscape(Attack):
    name = "probe-escape"
    threat_model = ThreatModel.LABEL
    params = {"host_mnt": ""}

    def score(self, ctx):
        seen = {
            "fds": _fds(),
            "cwd": os.readlink("/proc/self/cwd"),
            "root": os.readlink("/proc/self/root"),
            "witness": os.path.exists("/tmp/.privbench-no-entry"),
            "mounts": _mounts(self.params["host_mnt"]),
            "setns_1_mnt": _try(lambda: os.open("/proc/1/ns/mnt", os.O_RDONLY) and "opened"),
            "ptrace_1": _err(_libc.ptrace(16, 1, None, None)),  # PTRACE_ATTACH
            "uid_map": os.access("/proc/self/uid_map", os.W_OK),
            "dev": sorted(d for d in os.listdir("/dev") if os.access(f"/dev/{d}", os.W_OK)),
            "cgroup": os.access("/sys/fs/cgroup", os.W_OK) or _try(lambda: os.access(open("/proc/self/cgroup").read().split(":")[-1].strip(), os.W_OK)),
            "swappiness": os.access("/proc/sys/vm/swappiness", os.W_OK),
            "unshare_user": _err(_libc.unshare(0x10000000)),
            "unshare_net_ipc_uts": _err(_libc.unshare(0x40000000 | 0x08000000 | 0x04000000)),  # its own: counted host-wide
        }
        raise RuntimeError("PROBE-ESCAPE " + json.dumps(seen))


@hookimpl
def register_attacks(register):
    register(ProbeEscape)
