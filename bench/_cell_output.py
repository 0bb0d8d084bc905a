"""A cell's own stdout and stderr: pipes that its init copies to the zygote's (the harness's) output.

The zygote's stdout and stderr were the harness's (a log file, pytest's capture file): a cell reopened
/proc/self/fd/2 for reading, wrote its shadows' rows there, and the next cell read them back (AUC 0.794 on target 1,
both sandboxes). A pipe of its own holds only what the cell wrote itself, and the process that holds the harness's
descriptors is one the cell may not trace (not dumpable).
"""

from __future__ import annotations

import os

__all__ = ["fork_with_own_output"]


def fork_with_own_output() -> int:
    """``os.fork()``, but the child's stdout and stderr are pipes of its own, which the parent copies to its own
    until the child (and what it started) closes them; then the parent returns."""
    out, err = os.pipe(), os.pipe()
    pid = os.fork()
    for (r, w), fd in ((out, 1), (err, 2)):
        os.close(r if not pid else w)
        if not pid:
            os.dup2(w, fd)
            os.close(w)
    if pid:
        _relay({out[0]: 1, err[0]: 2}, os.pidfd_open(pid))
    return pid


def _relay(pipes: dict[int, int], child: int) -> None:
    """Copy each pipe to its descriptor until the child ends (``child``: its pidfd), then what is left in them.
    Not until the pipes end: a process the cell started could hold them open, and the cell's init, waiting, would
    keep the namespace (and the zygote) waiting with it."""
    import select

    while pipes:
        ready = select.select([*pipes, child], [], [])[0]
        for r in [r for r in ready if r != child]:
            if not _copy(r, pipes[r]):
                os.close(r)
                del pipes[r]
        if child in ready:
            for r, fd in pipes.items():
                os.set_blocking(r, False)
                while _copy(r, fd):
                    pass
                os.close(r)
            break
    os.close(child)


def _copy(r: int, fd: int) -> bool:
    """One chunk from ``r`` to ``fd``; False at the end of ``r`` (or nothing left to read without waiting)."""
    try:
        chunk = os.read(r, 65536)
    except BlockingIOError:
        return False
    try:
        os.write(fd, chunk)
    except OSError:
        pass  # the harness stopped reading: the cell's output is lost, not the cell
    return bool(chunk)
