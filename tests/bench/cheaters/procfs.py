"""Cheaters at the kernel state that a cell shares with the zygote and the cells after it (not files: issue 11).

- cheat-keyring: a pool design's membership carried to the next target in a key. The zygote's cells shared its
  session keyring; a key added by one was found, and read, by the next. It carries the XOR of its shadows' rows
  (as cheat-hostname-rw does): when targets were shadows of each other, XORed with the next run's own and each of
  that run's shadows' rows in turn, one guess (the shadow that was the previous target) was exactly the next
  target's row. Targets are never shadows now, so it raises when anything reached it: the channel is open.
- cheat-proc-view: not a cheater that scores, a probe that reports (in its error) what the cell can see and change
  through /proc: the processes of other cells and of the spare forked for the next (same uid: its memory was
  writable through /proc/<pid>/mem), the read-only flag on /proc, oom_score_adj, the autogroup, the host's sysctls.
"""

import ctypes
import json
import os

import numpy as np
from bench import Attack, ThreatModel, hookimpl

_libc = ctypes.CDLL(None, use_errno=True)
_SYS = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}[os.uname().machine]
_SESSION, _SEARCH, _READ = -3, 10, 11  # KEY_SPEC_SESSION_KEYRING, KEYCTL_SEARCH, KEYCTL_READ


def _coin(ctx):
    return ctx.rng.random(len(ctx.candidates))


def _key_read(description):
    kid = _libc.syscall(_SYS["keyctl"], _SEARCH, _SESSION, b"user", description, 0)
    if kid < 0:
        return None
    buf = ctypes.create_string_buffer(65536)
    n = _libc.syscall(_SYS["keyctl"], _READ, kid, buf, len(buf))
    return buf.raw[:n] if n > 0 else None


class Keyring(Attack):
    name = "cheat-keyring"
    threat_model = ThreatModel.LABEL
    params = {"tag": ""}

    def score(self, ctx):
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        mine = np.bitwise_xor.reduce(inc, axis=0)
        description = f"privbench-cheat-{self.params['tag']}".encode()
        found = _key_read(description)
        payload = np.packbits(mine).tobytes()
        _libc.syscall(_SYS["add_key"], b"user", description, payload, len(payload), _SESSION)
        if found is not None and len(found) == (inc.shape[1] + 7) // 8:  # the XOR of an earlier run's shadows' rows
            raise RuntimeError("carried over from an earlier run through the session keyring")
        return _coin(ctx)


def _write(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
        return "written"
    except OSError as e:
        return os.strerror(e.errno)


class ProcView(Attack):
    name = "cheat-proc-view"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        clear_ro = (ctypes.c_uint64 * 4)(0, 1, 0, 0)  # struct mount_attr: clear MOUNT_ATTR_RDONLY
        seen = {
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "clear_ro": _libc.syscall(442, -100, b"/proc", 0, clear_ro, ctypes.sizeof(clear_ro)),
            "remount_rw": _libc.mount(None, b"/proc", None, 32 | 4096, None),
            "umount": _libc.umount2(b"/proc", 2),
            "oom_score_adj": _write("/proc/self/oom_score_adj", "500"),
            "autogroup": _write("/proc/self/autogroup", "5"),
            "core_pattern": os.access("/proc/sys/kernel/core_pattern", os.W_OK),
        }
        raise RuntimeError("PROC-VIEW " + json.dumps(seen))


@hookimpl
def register_attacks(register):
    register(Keyring)
    register(ProcView)
