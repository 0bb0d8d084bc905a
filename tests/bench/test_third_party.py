"""A third-party plugin package, written and pip-installed as a user would, runs through the CLI."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from bench.testing import COINFLIP_PLUGIN as DESIGN_EXAMPLE

PRIVBENCH = str(Path(sys.executable).with_name("privbench"))


@pytest.mark.slow
def test_pip_installed_coinflip_is_listed_and_runs_at_chance(tmp_path, session_cache):
    pkg = tmp_path / "coinflip-plugin"
    (pkg / "privbench_coinflip").mkdir(parents=True)
    (pkg / "privbench_coinflip" / "__init__.py").write_text("")
    (pkg / "privbench_coinflip" / "plugin.py").write_text(DESIGN_EXAMPLE)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(
        """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "privbench-coinflip"
        version = "0.3.1"

        [project.entry-points.privbench]
        coinflip = "privbench_coinflip.plugin"
        """
    ))
    # Installed where any user can read it, as a venv's site-packages is: where bwrap is unavailable (e.g. a checkout
    # under /tmp, which bwrap's /tmp hides) the worker runs as `nobody`, which cannot read pytest's 0700 tmp_path.
    site = Path(tempfile.mkdtemp(prefix="privbench-site-", dir="/tmp"))  # not the test tmp dir: pytest-of-root is 0700
    site.chmod(0o755)
    try:
        _install_and_run(pkg, site, tmp_path, session_cache)
    finally:
        shutil.rmtree(site, ignore_errors=True)


def _install_and_run(pkg, site, tmp_path, session_cache):
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(pkg)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "PRIVBENCH_CACHE_DIR": str(session_cache)}

    listed = json.loads(subprocess.run([PRIVBENCH, "plugins", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    coin = next(p for p in listed if p["name"] == "coinflip")
    assert coin["distribution"] == "privbench-coinflip" and coin["version"] == "0.3.1"
    assert coin["registers"]["attacks"] == ["coinflip"] and not coin["broken"]

    out = subprocess.run([PRIVBENCH, "run", "--attacks", "coinflip", "--out", str(tmp_path / "run"), "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    (rec,) = [json.loads(l) for l in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "ok"
    assert rec["attack"]["plugin"] == "coinflip"
    assert rec["metrics"]["n_members"] + rec["metrics"]["n_nonmembers"] >= 1000
    assert 0.4 <= rec["metrics"]["auc"] <= 0.6

    # Officially, the installed plugin registers an attack: it is described in the sandbox and never imported by the
    # harness; its provenance (distribution, version) still comes from the package, and the worker runs the real class.
    out = subprocess.run([PRIVBENCH, "run", "--official", "--track", "synthetic-blobs", "--attacks", "coinflip", "--out", str(tmp_path / "official"),
                          "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    (rec,) = [json.loads(l) for l in (tmp_path / "official" / "results.jsonl").read_text().splitlines()]
    assert rec["status"] == "ok" and rec["official"] is True and rec["attack"]["plugin"] == "coinflip", rec["error"]
    attack = rec["provenance"]["plugins"]["attack"]
    assert attack["distribution"] == "privbench-coinflip" and attack["dist_version"] == "0.3.1"
    assert 0.35 <= rec["metrics"]["auc"] <= 0.65
