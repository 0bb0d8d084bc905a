"""A seccomp filter for sandboxed attack code: no kernel keys, no namespaces of its own.

Keyrings ignore namespaces: a key that a cell linked into a keyring the host keeps (the uid's user keyring, its id
read from /proc/keys) was read by the next cell, which carried a pool design's membership to the next target (AUC
0.794, both sandboxes). And a cell may make namespaces in its own user namespace: held up to the per-user limit,
they would make the next cell's set-up fail. So ``add_key``, ``request_key``, ``keyctl``, ``unshare``, ``setns``
and namespace flags to ``clone`` fail with EPERM (``clone3``, whose flags a filter cannot read, with ENOSYS: the C
library then uses ``clone``), as Docker's default profile does; any other architecture's calls fail too.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["deny_keys_and_namespaces"]

_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # AUDIT_ARCH_*
_CALLS = {  # system call numbers, per architecture
    "x86_64": {"add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "setns": 308, "clone": 56, "clone3": 435, "seccomp": 317},
    "aarch64": {"add_key": 217, "request_key": 218, "keyctl": 219, "unshare": 97, "setns": 268, "clone": 220, "clone3": 435, "seccomp": 277},
}
_DENIED = ("add_key", "request_key", "keyctl", "unshare", "setns")
_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000  # CLONE_NEW*
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|JGE|JSET|K, BPF_RET|K
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38


def _program(machine: str) -> list[tuple[int, int, int, int]]:
    """The filter, as (code, jump if true, jump if false, k); jumps are relative, to the ``deny`` and ``clone`` blocks."""
    calls = _CALLS[machine]
    head = [(_LD, 0, 0, 4), (_JEQ, "next", "deny", _ARCH[machine]), (_LD, 0, 0, 0)]  # arch, then nr
    if machine == "x86_64":
        head.append((_JGE, "deny", "next", 0x40000000))  # the x32 calls share the arch: refused
    head += [(_JEQ, "deny", "next", calls[name]) for name in _DENIED]
    head += [(_JEQ, "enosys", "next", calls["clone3"]), (_JEQ, "next", "allow", calls["clone"])]
    blocks = {
        "clone": [(_LD, 0, 0, 16), (_JSET, "deny", "allow", _NAMESPACES)],  # args[0]'s low 32 bits: the flags
        "allow": [(_RET, 0, 0, _ALLOW)], "deny": [(_RET, 0, 0, _ERRNO | _EPERM)], "enosys": [(_RET, 0, 0, _ERRNO | _ENOSYS)],
    }
    code, at = list(head), {}
    for name, block in blocks.items():
        at[name] = len(code)
        code += block

    def jump(i: int, target: Any) -> int:
        return 0 if target in (0, "next") else at[target] - i - 1

    return [(c, jump(i, t), jump(i, f), k) for i, (c, t, f, k) in enumerate(code)]


def deny_keys_and_namespaces() -> bool:
    """Install the filter on every thread of this process (and so its children); False where it could not be."""
    import ctypes

    machine = os.uname().machine
    if machine not in _CALLS:
        return False

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    code = _program(machine)
    filters = (Filter * len(code))(*(Filter(*op) for op in code))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0):  # PR_SET_NO_NEW_PRIVS: required to filter without CAP_SYS_ADMIN
        return False
    program = Program(len(code), filters)
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC): threads already running (BLAS's) get it too
    return libc.syscall(_CALLS[machine]["seccomp"], 1, 1, ctypes.byref(program)) == 0
