"""Benchmark: `--attacks all` on digits in worker processes (sandboxed where possible) vs in-process threads.

Both runs read the same warm model cache (a first, unmeasured run fills it), so the difference is what the worker
costs: forking it, sending candidates, population and shadow weights, and the query round trips. Asserted: at most
15 % more wall time. ``PRIVBENCH_BENCH_BUDGET`` picks the tier (default ``cpu``; ``smoke`` for a quick look).
Run apart: ``pytest tests/benchmarks/test_bench_worker.py --benchmark-only -s``; ``PRIVBENCH_BENCH_CACHE`` names a model cache
already warm for every attack (the warm-up run is then skipped).
"""

import os
import time

import pytest
from click.testing import CliRunner

from bench.cli import cli

pytestmark = pytest.mark.benchmark


def _run(tmp_path, out, isolation, budget, attacks="all"):
    cache = os.environ.get("PRIVBENCH_BENCH_CACHE") or str(tmp_path / "cache")
    args = ["run", "--track", "digits", "--attacks", attacks, "--budget", budget, "--out", str(tmp_path / out), "--cache-dir", cache,
            "--no-progress", "--device", "cpu", "--isolation", isolation]
    t0 = time.perf_counter()
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return time.perf_counter() - t0


def test_worker_overhead_on_all_attacks(benchmark, tmp_path):
    budget = os.environ.get("PRIVBENCH_BENCH_BUDGET", "cpu")
    if not os.environ.get("PRIVBENCH_BENCH_CACHE"):  # a cache already warm for every attack skips this
        _run(tmp_path, "warm", "thread", budget)  # trains every model (the pool's and any attack's own) once; both measured runs load them
    thread = _run(tmp_path, "thread", "thread", budget)
    process = benchmark.pedantic(lambda: _run(tmp_path, "process", "process", budget), rounds=1, iterations=1)
    overhead = process / thread - 1
    benchmark.extra_info.update(budget=budget, thread_seconds=round(thread, 1), process_seconds=round(process, 1), overhead=round(overhead, 3))
    print(f"\n--attacks all on digits ({budget}): in-process {thread:.1f}s, worker processes {process:.1f}s ({overhead:+.1%})")
    assert overhead <= 0.15
