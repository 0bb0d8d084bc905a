"""Tests for the local executor's device slots (bench.executors)."""

import json
import os

import pytest

from bench._runner import Plan, Session, run_plan
from bench.executors import THREAD_ENVS, LocalExecutor, local_slots, slot_threads


def test_local_slots():
    assert local_slots("cpu") == [None]  # default: sequential, in-process
    assert local_slots("cpu", 3) == ["cpu"] * 3


def test_cpu_slots_split_the_cores_and_leave_gpus_and_explicit_settings_alone(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert slot_threads(["cpu", "cpu"]) == max(1, cores // 2)
    assert slot_threads(["cpu"] * (cores + 1)) == 1
    assert slot_threads([None]) is None and slot_threads(["cuda:0", "cuda:1"]) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert slot_threads(["cpu", "cpu"]) is None


@pytest.mark.slow  # two spawned slots importing torch: ~15 s on a loaded 2-core machine
def test_each_cpu_slot_runs_its_share_of_the_threads(monkeypatch):
    # Every library starts one thread per core in each process: two slots on 2 cores ran 4 OpenMP threads, and
    # training took ~15x longer. A slot's cells (and the sandboxed workers it starts) inherit its share: the
    # variables, and the pools the slot already started (torch's, numpy's BLAS). Results come back in any order.
    import functools
    import operator

    import threadpoolctl
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    share = slot_threads(["cpu", "cpu"])
    asks = [functools.partial(os.getenv, name) for name in THREAD_ENVS] + [torch.get_num_threads, threadpoolctl.threadpool_info]
    seen = list(LocalExecutor(slots=2).map(operator.call, asks))
    assert sorted(v for v in seen if isinstance(v, str)) == [str(share)] * 3
    assert [v for v in seen if isinstance(v, int)] == [share]
    pools = next(v for v in seen if isinstance(v, list))
    assert pools and {p["num_threads"] for p in pools} == {share}


@pytest.mark.slow
def test_two_cpu_slots_give_the_records_of_sequential_runs(tmp_path):
    def plan(name):
        return Plan(tracks=["synthetic-blobs"], attacks=["loss"], defenses=["none", "l2"], seeds=[0], budget="smoke",
                    out_dir=str(tmp_path / name), cache_dir=str(tmp_path / "cache"), device="cpu", progress=False)

    seq = run_plan(plan("seq"), session=Session(plan("seq")), executor=LocalExecutor())
    par = run_plan(plan("par"), session=Session(plan("par")), executor=LocalExecutor(slots=2))
    key = lambda r: (r["run_id"], r["status"], json.dumps(r["metrics"], sort_keys=True))
    assert sorted(map(key, par)) == sorted(map(key, seq))
    assert [r["status"] for r in par] == ["ok", "ok"]
    assert len((tmp_path / "par" / "results.jsonl").read_text().splitlines()) == 2


def test_run_plan_looks_the_local_executor_up_in_the_registry(tmp_path):
    import types

    from bench import hookimpl
    from bench._plugins import PluginManager
    from bench.testing import make_session

    made = []

    class Recording:
        name = "local"

        def __init__(self, **options):
            made.append(self)

        def map(self, job, cells):
            return iter(())

    manager = PluginManager()
    manager.register_module("recording", types.SimpleNamespace(register_executors=hookimpl(lambda register: register(Recording))))
    with make_session(registry=manager.registry(), out_dir=str(tmp_path / "out")) as session:
        assert run_plan(session.plan, session=session) == []
    assert len(made) == 1  # the registered "local", not a hard-imported class
