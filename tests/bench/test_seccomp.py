"""bench._seccomp: the filter a sealed cell runs under."""

import ctypes
import os

import pytest

from bench._seccomp import _CALLS, deny_keys_and_namespaces


def _in_child(work):
    """``work()``'s repr from a forked child (the filter stays with the child)."""
    read, write = os.pipe()
    pid = os.fork()
    if not pid:
        os.close(read)
        try:
            said = repr(work())
        except BaseException as exc:  # noqa: BLE001
            said = f"raised {exc!r}"
        os.write(write, said.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        said = f.read()
    os.waitpid(pid, 0)
    return said


@pytest.mark.skipif(os.uname().machine not in _CALLS, reason="the filter knows x86-64 and aarch64 calls only")
def test_keys_and_namespaces_are_refused_and_threads_forks_and_programs_still_run():
    def work():
        import subprocess
        import threading

        assert deny_keys_and_namespaces()
        libc = ctypes.CDLL(None, use_errno=True)
        nr = _CALLS[os.uname().machine]
        refused = {}
        for name, call in (("add_key", lambda: libc.syscall(nr["add_key"], b"user", b"k", b"v", 1, -3)),
                           ("keyctl", lambda: libc.syscall(nr["keyctl"], 0, -3, 0)),
                           ("unshare", lambda: libc.unshare(0x40000000))):
            refused[name] = (call(), ctypes.get_errno())
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        pid = os.fork()
        if not pid:
            os._exit(7)
        forked = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return refused, forked, subprocess.run(["true"]).returncode, subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode

    refused, forked, program, unshared = eval(_in_child(work))
    assert refused == {"add_key": (-1, 1), "keyctl": (-1, 1), "unshare": (-1, 1)}
    assert forked == 7 and program == 0 and unshared != 0
