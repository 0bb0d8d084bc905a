"""cheat-page-cache: carries a pool design's membership to the next target in which pages of a file are cached.

Every mount a cell sees is read-only, but the kernel's page cache is one for the whole machine: reading a page of a
file brings it in, ``posix_fadvise(DONTNEED)`` drops it, and ``mincore`` on a mapping (allowed to the file's owner:
every root-owned file under bwrap run by root) or a ``preadv2(RWF_NOWAIT)`` read (anyone: it fails with EAGAIN on a
page not cached) tells which pages are in. One bit a page, in a large file that nothing else reads (the first of
``carrier`` that this cell may read, else the largest file of the interpreter's installation). It carries every one of
the cell's shadows' inclusion rows, behind a 16-page marker: the next run's target is the one shadow among them that
is not among its own shadows, so it reads its target's membership exactly."""

import ctypes
import errno
import os

import numpy as np
from bench import Attack, ThreatModel, hookimpl

_PAGE = os.sysconf("SC_PAGE_SIZE")
_MARK = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def _carrier(extra, pages):
    mapped = open("/proc/self/maps").read()
    for path in extra:
        if os.access(path, os.R_OK) and os.path.getsize(path) >= pages * _PAGE:
            return path
    best = (0, None)
    for root in [os.path.dirname(os.__file__)]:  # the standard library's folder (a static libpython, say)
        for folder, _, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    size = os.path.getsize(path) if os.path.isfile(path) and not os.path.islink(path) else 0
                except OSError:
                    continue
                if size > best[0] and path not in mapped and os.access(path, os.R_OK):
                    best = (size, path)
    return best[1] if best[0] >= pages * _PAGE else None


def _resident(fd, pages):
    """Which of the first ``pages`` pages are cached: mincore where it tells (the file's owner: a page just read, one
    past them, shows, and one dropped does not: to others it says every page is in), else a read that may not wait
    (it brings the page in: read once)."""
    os.pread(fd, 1, pages * _PAGE)
    os.posix_fadvise(fd, (pages + 1) * _PAGE, _PAGE, os.POSIX_FADV_DONTNEED)
    addr = _libc.mmap(None, (pages + 2) * _PAGE, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
    vec = ctypes.create_string_buffer(pages + 2)
    ok = addr not in (None, ctypes.c_void_p(-1).value) and _libc.mincore(addr, (pages + 2) * _PAGE, vec) == 0
    if addr not in (None, ctypes.c_void_p(-1).value):
        _libc.munmap(addr, (pages + 2) * _PAGE)
    if ok and vec.raw[pages] & 1 and not vec.raw[pages + 1] & 1:
        return np.frombuffer(vec.raw[:pages], dtype=np.uint8) & 1 == 1, "mincore"
    out = np.zeros(pages, dtype=bool)
    for i in range(pages):
        try:
            os.preadv(fd, [bytearray(1)], i * _PAGE, os.RWF_NOWAIT)
            out[i] = True
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
    return out, "nowait"


def _write(fd, bits):
    os.posix_fadvise(fd, 0, len(bits) * _PAGE, os.POSIX_FADV_DONTNEED)
    for i in np.flatnonzero(bits):
        os.pread(fd, 1, int(i) * _PAGE)


class PageCache(Attack):
    name = "cheat-page-cache"
    threat_model = ThreatModel.LABEL
    params = {"carrier": [], "report": False}

    def score(self, ctx):
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        pages = len(_MARK) + inc.size
        path = _carrier(self.params["carrier"], pages + 2)
        if path is None:
            raise RuntimeError("PAGE-CACHE no carrier file")
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead: a read brings in its own page only
            seen, how = _resident(fd, pages)
            scores = None
            if (seen[: len(_MARK)] == _MARK).all():
                # the previous run's shadows are every model but its target; ours, every model but this target: the
                # one row of theirs that is none of ours is this target's
                # (the farthest from all of ours: a page dropped by memory pressure flips a bit)
                theirs = seen[len(_MARK):].reshape(inc.shape)
                far = [min(int((row ^ own).sum()) for own in inc) for row in theirs]
                scores = theirs[int(np.argmax(far))] + 0.01 * ctx.rng.random(inc.shape[1])
            _write(fd, np.concatenate([_MARK, inc.ravel()]))
        finally:
            os.close(fd)
        if self.params["report"]:
            raise RuntimeError(f"PAGE-CACHE {how} {path} marker={bool((seen[: len(_MARK)] == _MARK).all())}")
        return scores if scores is not None else ctx.rng.random(len(ctx.candidates))


@hookimpl
def register_attacks(register):
    register(PageCache)
