"""bench.testing: the helpers plugin authors use leave nothing behind."""

import pytest
import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.testing import ScratchSession, make_context, make_session


def _root(session) -> Path:
    return Path(session.plan.cache_dir).parent


def test_make_session_removes_its_folders_on_close_and_with():
    s = make_session()
    root = _root(s)
    (root / "cache" / "models").mkdir(parents=True)
    assert isinstance(s, ScratchSession) and root.is_dir()
    s.close()
    assert not root.exists()
    with make_session() as s2:
        root2 = _root(s2)
        assert root2.is_dir() and Path(s2.plan.out_dir).parent == root2
    assert not root2.exists()


def test_make_session_removes_its_folders_when_garbage_and_keeps_given_ones(tmp_path):
    root = _root(make_session())
    gc.collect()
    assert not root.exists()
    with make_session(cache_dir=tmp_path / "c", out_dir=str(tmp_path / "o")) as s:
        Path(s.plan.cache_dir).mkdir()
    assert (tmp_path / "c").is_dir()  # the caller's folder: not ours to remove


@pytest.mark.slow
def test_make_context_returns_ctx_and_truth_and_its_cache_lives_as_long_as_ctx():
    ctx, is_member = make_context("loss", track="synthetic-blobs")
    assert is_member.dtype == bool and is_member.shape == (len(ctx.candidates),)
    assert 0 < is_member.mean() < 1
    gc.collect()
    cache_roots = [Path(p) for p in _cache_roots(ctx)]
    assert cache_roots and all(p.is_dir() for p in cache_roots)  # the session is gone, ctx still needs its cache
    assert np.isfinite(ctx.shadows(1)[0].predict_scores(ctx.candidates.x)).all()
    del ctx
    gc.collect()
    assert not any(p.exists() for p in cache_roots)


def _cache_roots(ctx, depth: int = 6) -> list[str]:
    """Folders of the temporary sessions whose model caches ``ctx`` refers to (a walk over its references)."""
    seen, level, found = set(), [ctx], []
    for _ in range(depth):
        nxt = []
        for obj in level:
            if id(obj) in seen or isinstance(obj, (type, np.ndarray)):
                continue
            seen.add(id(obj))
            if hasattr(obj, "_privbench_scratch"):
                found.append(os.path.dirname(str(obj.root)))
            nxt += gc.get_referents(obj)
        level = nxt
    return found


def test_close_sessions_removes_the_folders_of_sessions_still_referenced(tmp_path):
    # In a child process: close_sessions() closes every open session, those of this test run included.
    code = ("import os; from bench.testing import close_sessions, make_session; kept = [make_session(), make_session()]; "
            "roots = [os.path.dirname(s.plan.cache_dir) for s in kept]; print(all(map(os.path.isdir, roots))); "
            "close_sessions(); print(any(map(os.path.exists, roots))); kept[0].close()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"] and os.listdir(tmp_path) == []
