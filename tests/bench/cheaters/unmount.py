"""cheat-hoard with the cell's own scratch folders taken off first: a cell's private /tmp, /var/tmp and /dev/shm
are tmpfs mounts that it made itself, in a user and mount namespace of its own (bench._sandbox.private_scratch), and
the read-only flag on every other mount is one it set itself too. Both can be undone from inside the namespace:
unmount the tmpfs (the zygote's shared folder is under it) and clear the read-only flag it set (one that a
sandbox set before the namespace was made stays: the kernel locks it)."""

import ctypes

from bench import ThreatModel, hookimpl

_MNT_DETACH, _AT_FDCWD, _MOUNT_ATTR_RDONLY, _SYS_MOUNT_SETATTR = 2, -100, 1, 442


def uncover(roots=("/tmp", "/var/tmp", "/dev/shm")):
    """Unmount each root's private tmpfs (and what was bound back under it), clear read-only; what it did."""
    libc = ctypes.CDLL(None, use_errno=True)
    done = []
    for root in roots:
        while libc.umount2(root.encode(), _MNT_DETACH) == 0:  # every layer the cell mounted itself
            done.append(f"umount {root}")
        clear = (ctypes.c_uint64 * 4)(0, _MOUNT_ATTR_RDONLY, 0, 0)  # struct mount_attr: set, clear, propagation, userns_fd
        if libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, root.encode(), 0, clear, ctypes.sizeof(clear)) == 0:  # this mount only
            done.append(f"rw {root}")
    return done


def _hoard():
    """cheat-hoard (``plugin.py``), loaded from beside this file."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("privbench_cheaters_for_unmount", Path(__file__).with_name("plugin.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Hoard


class Unmount(_hoard()):
    """Uncovers the shared scratch folders, then hoards inclusion rows there across the cells of a pool design."""

    name = "cheat-unmount"
    threat_model = ThreatModel.LABEL
    FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")

    def score(self, ctx):
        uncover()
        return super().score(ctx)


@hookimpl
def register_attacks(register):
    register(Unmount)
