"""Benchmarks: a full ``privbench run`` of the default grid, and cache miss vs hit (adding an attack to a finished grid)."""

import time

import pytest
from click.testing import CliRunner

from bench.cli import cli

pytestmark = pytest.mark.benchmark


def _run(tmp_path, out, attacks="all"):
    args = ["run", "--out", str(tmp_path / out), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--device", "cpu", "--attacks", attacks]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return r


def test_default_run(benchmark, tmp_path):
    """`privbench run` with no arguments (digits, every attack, smoke budget), from an empty cache."""
    benchmark.pedantic(lambda: _run(tmp_path, "default"), rounds=1, iterations=1)


def test_cache_miss_vs_hit(benchmark, tmp_path):
    """First run trains every model (miss); a second run adding an attack to the finished grid trains none (hit)."""
    t0 = time.perf_counter()
    _run(tmp_path, "grid", attacks="lira,lira-offline")
    miss = time.perf_counter() - t0
    benchmark.pedantic(lambda: _run(tmp_path, "grid", attacks="lira,lira-offline,loss"), rounds=1, iterations=1)
    hit = benchmark.stats.stats.total
    benchmark.extra_info.update(miss_seconds=round(miss, 2), hit_seconds=round(hit, 2), ratio=round(miss / hit, 2))
    print(f"\nfirst run (trains target and shadows) {miss:.1f}s; second run adding loss {hit:.1f}s; ratio {miss / hit:.1f}x")
