"""The README's examples work as written: python blocks marked ``<!-- test -->`` are run (slow: they train models),
every python block compiles, and the plugin's pyproject snippet installs and registers the example attack."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- (test) -->\n)?```(\w+)\n(.*?)```", re.S)


def blocks(lang):
    """(marker or None, code, line) of each fenced block in ``lang``."""
    text = README.read_text()
    return [(m.group(1), m.group(3), text.count("\n", 0, m.start()) + 1) for m in BLOCK.finditer(text) if m.group(2) == lang]


def marked():
    return [pytest.param(code, id=f"README.md:{line}") for marker, code, line in blocks("python") if marker]


def test_the_readme_marks_examples_of_the_api_own_data_audit_attack_defense_and_track():
    codes = [code for marker, code, _ in blocks("python") if marker]
    for needle in ("bench.run(", "bench.track_from_arrays(", "bench.audit_model(", "class ShadowConfidence(Attack)",
                   "class MyDefense(Defense)", "class Moons(Track)"):
        assert any(needle in c for c in codes), f"no tested README example uses {needle}"


@pytest.mark.parametrize("code", [pytest.param(c, id=f"README.md:{line}") for _, c, line in blocks("python")])
def test_every_python_block_compiles_and_tested_ones_use_only_public_names(code):
    compile(code, "README.md", "exec")
    assert not re.search(r"\bbench\._|from bench\._", code), "README examples use bench's public names only"


def test_the_pyproject_snippet_is_a_complete_project_with_the_entry_point():
    (snippet,) = [c for _, c, _ in blocks("toml") if "[project.entry-points.privbench]" in c]
    data = tomllib.loads(snippet)
    assert data["project"]["name"] and data["project"]["version"]  # pip refuses a project without a version
    assert data["build-system"]["build-backend"]
    (target,) = data["project"]["entry-points"]["privbench"].values()
    assert re.fullmatch(r"[\w.]+", target)


def _run(code, cwd, cache):
    env = {**os.environ, "PRIVBENCH_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("code", marked())
def test_readme_example_runs(code, tmp_path, session_cache):
    _run(code, tmp_path, session_cache)


@pytest.mark.slow
def test_the_readme_plugin_package_installs_and_registers(tmp_path, session_cache):
    (plugin,) = [c for _, c, _ in blocks("python") if c.startswith("# my_package/plugin.py")]
    (snippet,) = [c for _, c, _ in blocks("toml") if "[project.entry-points.privbench]" in c]
    pkg = tmp_path / "pkg"
    (pkg / "my_package").mkdir(parents=True)
    (pkg / "my_package" / "__init__.py").write_text("")
    (pkg / "my_package" / "plugin.py").write_text(plugin)
    (pkg / "pyproject.toml").write_text(snippet)
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(pkg)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "PRIVBENCH_CACHE_DIR": str(session_cache)}
    privbench = str(Path(sys.executable).with_name("privbench"))
    listed = json.loads(subprocess.run([privbench, "plugins", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    mine = next(p for p in listed if p["name"] == "my_attack")
    assert mine["distribution"] == "my-package" and mine["version"] == "0.1.0" and mine["registers"]["attacks"] == ["coinflip"]
    assert not mine["broken"]
