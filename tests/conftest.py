"""Shared fixtures: every test gets a private model cache; trained models are shared within the session.

The run as a whole is checked too: it must not leave folders in the temporary directory (every test
gets a private one, which has to be empty at the end) nor write into the repository.
"""

import gc
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from bench.testing import close_sessions

REPO = Path(__file__).resolve().parents[1]
_PYTHON_OWN = ("__pycache__", ".pytest_cache")  # the interpreter's and pytest's own, never a test's


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers(tmp_path_factory):
    """Fails the run if it leaves anything in the temporary directory or writes into the repository."""
    tmp_path_factory.getbasetemp()  # pytest's own tmp_path folders stay where pytest keeps them
    scratch = tmp_path_factory.mktemp("tempdir")
    before = _repo_state()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(scratch))
        mp.setenv("TMPDIR", str(scratch))  # subprocesses too
        # torch keeps its compile cache in <tmp>/torchinductor_<user> on purpose: a cache, not a test's leftover
        mp.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.mktemp("torchinductor")))
        yield
    gc.collect()  # sessions that are garbage remove their folders now
    close_sessions()  # and those still referenced (a failed test's traceback, a module global), as exit would
    from bench._pool import _close_pools

    _close_pools()  # the attack workers' zygotes and their homes, as exit would
    problems = []
    left = sorted(os.listdir(scratch))
    if left:
        problems.append(f"the tests left {len(left)} entries in the temporary directory: {', '.join(left[:10])}")
    written = sorted(set(_repo_state()) - set(before))
    if written:
        problems.append(f"the tests wrote into the repository: {', '.join(written[:10])}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _repo_state() -> list[str]:
    """Untracked and ignored entries of the checkout (``git status``); empty outside a git checkout.

    New files and folders are what a test writes; changes to tracked files are left out, since a developer
    may be editing while the tests run."""
    try:
        out = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain", "--ignored"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = [ln for ln in out.stdout.splitlines() if ln[:2] in ("??", "!!")] if out.returncode == 0 else []
    return [ln[3:] for ln in lines if not any(part in _PYTHON_OWN for part in Path(ln[3:].rstrip("/")).parts)]


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, session_cache):
    monkeypatch.setenv("PRIVBENCH_CACHE_DIR", str(session_cache))
    monkeypatch.delenv("PRIVBENCH_DISABLE_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def session(session_cache):
    """A harness session over the installed plugins, CPU, sharing the session's model cache."""
    from bench.testing import make_session

    with make_session(cache_dir=session_cache) as s:
        yield s
