"""Tests for the local executor's device slots (bench.executors)."""

import json
import os

import pytest

from bench._runner import Plan, Session, run_plan
from bench._threads import CPU_THREADS, THREAD_ENVS
from bench.executors import LocalExecutor, local_slots
from bench.testing import make_session


def test_local_slots():
    assert local_slots("cpu") == [None]  # default: sequential, in-process
    assert local_slots("cpu", 3) == ["cpu"] * 3


def test_a_session_computes_on_one_thread_whatever_the_user_set(monkeypatch):
    import torch

    for name in THREAD_ENVS:
        monkeypatch.setenv(name, "2")
    torch.set_num_threads(2)
    with make_session(device="cuda"):  # a GPU run's attacks train models on the CPU too
        assert torch.get_num_threads() == CPU_THREADS
        assert [os.environ[name] for name in THREAD_ENVS] == [str(CPU_THREADS)] * 3


@pytest.mark.slow  # two spawned slots importing torch: ~15 s on a loaded 2-core machine
def test_each_cpu_slot_computes_on_one_thread_as_a_sequential_run_does(monkeypatch):
    # Every library starts one thread per core in each process: two slots on 2 cores ran 4 OpenMP threads and
    # trained ~15x slower, and a slot at its share of the cores computed other numbers than a sequential run (the
    # thread count changes float reductions). A slot's cells (and the sandboxed workers it starts) compute on
    # CPU_THREADS: the variables, and the pools the slot already started (torch's, numpy's BLAS), whatever the user
    # set. Results come in any order.
    import functools
    import operator
    import types

    import threadpoolctl
    import torch

    for name in THREAD_ENVS:
        monkeypatch.setenv(name, "2")
    job = functools.partial(operator.call)
    job.plan = types.SimpleNamespace(device="cpu")  # CPU slots on a GPU machine too
    asks = [functools.partial(os.getenv, name) for name in THREAD_ENVS] + [torch.get_num_threads, threadpoolctl.threadpool_info]
    seen = list(LocalExecutor(slots=2).map(job, asks))
    assert sorted(v for v in seen if isinstance(v, str)) == [str(CPU_THREADS)] * 3
    assert [v for v in seen if isinstance(v, int)] == [CPU_THREADS]
    pools = next(v for v in seen if isinstance(v, list))
    assert pools and {p["num_threads"] for p in pools} == {CPU_THREADS}


def _digits_target_weights(cache_dir):
    import hashlib

    from bench._cache import ModelCache
    from bench._models import ModelFactory
    from bench.testing import make_session

    with make_session(device="cpu") as s:
        track, data, split = s.track("digits")
        factory = ModelFactory(track, data, split.sha256, s.registry.defense("none"), ModelCache(cache_dir))
        module, _, cached = factory.get("target", split.members, 0)
    assert not cached
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in module.parameters())).hexdigest()


@pytest.mark.slow
def test_a_slot_trains_the_weights_a_sequential_run_trains(monkeypatch, tmp_path):
    # Each in a cold cache of its own: digits' CNN comes out different in its last bits at 1 and 2 threads, so a
    # slot at its share of the cores trained other weights than a sequential run on every core (review of a59ca54).
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    sequential = _digits_target_weights(str(tmp_path / "seq"))
    slots = LocalExecutor(slots=2).map(_digits_target_weights, [str(tmp_path / "a"), str(tmp_path / "b")])
    assert list(slots) == [sequential, sequential]


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
