"""The suite's own guard (tests/conftest.py) fails a run that leaves temporary folders behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _inner_run(tmp_path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_inner.py").write_text(body)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", f"--basetemp={tmp_path / 'base'}",
           "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path / "test_inner.py")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(TESTS)})


def test_a_run_that_leaves_a_temporary_folder_fails(tmp_path):
    leaky = _inner_run(tmp_path, "import tempfile\n\ndef test_leaks():\n    tempfile.mkdtemp(prefix='forgotten-')\n")
    assert leaky.returncode != 0
    assert "left 1 entries in the temporary directory: forgotten-" in leaky.stdout, leaky.stdout[-2000:]


@pytest.mark.slow
def test_a_run_that_cleans_up_passes(tmp_path):
    tidy = _inner_run(tmp_path, "import tempfile\n\ndef test_tidy():\n    with tempfile.TemporaryDirectory():\n        pass\n")
    assert tidy.returncode == 0, tidy.stdout[-2000:]
