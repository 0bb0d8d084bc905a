"""Attacks in their own process (bench._worker): same numbers as in-process, the harness enforces, a crash costs one cell."""

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from bench import Attack, Budget, Candidates, ThreatModel
from bench._proxy import decode, encode
from bench._runner import Plan, run_plan
from bench.testing import make_session, registry_with, run_cell
from plugins.tracks.synthetic import SyntheticBlobs

CHEATERS = str(Path(__file__).parent / "cheaters" / "plugin.py")
TRACKS = str(Path(__file__).parent / "cheaters" / "tracks.py")  # cheat-pool-blobs: tracks come from a plugin without attacks


class _OneLong(np.ndarray):
    def __len__(self):
        return 1


def test_wire_format_round_trips_data_and_strips_array_subclasses():
    x = np.arange(12.0).reshape(4, 3).view(_OneLong)
    msg = {"x": x, "c": Candidates(x=np.ones((2, 2)), caption=["a", "b"]), "blob": b"\x00\x01", "n": np.int64(3), "t": (1, None, "s")}
    out = decode(encode(msg))
    assert type(out["x"]) is np.ndarray and len(out["x"]) == 4  # the real leading dimension, not the subclass's claim
    np.testing.assert_array_equal(out["x"], np.arange(12.0).reshape(4, 3))
    assert out["c"].caption == ["a", "b"] and out["c"].x.shape == (2, 2)
    assert out["blob"] == b"\x00\x01" and out["n"] == 3 and out["t"] == [1, None, "s"]


def test_wire_format_refuses_objects_and_pickles():
    with pytest.raises(TypeError, match="cannot cross"):
        encode({"f": object()})
    with pytest.raises(TypeError, match="object array"):
        encode(np.array([object()], dtype=object))
    import io
    import struct

    buf = io.BytesIO()
    header = b'{"__nd__": 0}'
    buf.write(struct.pack("<Q", len(header)) + header)
    np.lib.format.write_array(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)  # what a hostile worker could send
    with pytest.raises(ValueError, match="allow_pickle"):
        decode(buf.getvalue())


@pytest.fixture(scope="module")
def cheat_session(tmp_path_factory):
    cache = tmp_path_factory.mktemp("worker-cache")
    return make_session(cache_dir=cache, plugin_files=[CHEATERS], timeout_grace=0.5, isolation="process")


def test_records_say_how_the_attack_ran(cheat_session):
    rec = run_cell("loss", session=cheat_session)
    assert rec["status"] == "ok", rec["error"]
    assert rec["isolation"]["mode"] == "process"
    assert rec["isolation"]["sandboxed"] == (rec["isolation"]["sandbox"] is not None)


def test_os_exit_fails_only_its_cell(cheat_session):
    rec = run_cell("cheat-exit", session=cheat_session)
    assert rec["status"] == "failed"
    assert "ended without returning scores" in rec["error"] and "exit status 3" in rec["error"]
    assert run_cell("loss", session=cheat_session)["status"] == "ok"  # the run goes on


def test_queries_are_charged_by_their_real_length(cheat_session):
    rec = run_cell("cheat-len1", session=cheat_session)
    assert rec["status"] == "over_budget"
    assert "asked the target for" in rec["error"] and "over the 'smoke' budget" in rec["error"]


def test_what_an_attack_does_before_score_is_on_its_clock(cheat_session):
    # cheat-free-init sleeps 2 s in __init__ in the worker (training models on the public data, say): before the
    # clock started only once its context was built, that time was free (charged about 0.1 s)
    rec = run_cell("cheat-free-init", session=cheat_session)
    assert rec["status"] == "ok", rec["error"]
    assert rec["budget"]["used"]["device_seconds"] >= 1.9, rec["budget"]["used"]


def test_a_label_attack_cannot_reach_scores_through_the_proxy(cheat_session):
    rec = run_cell("cheat-proxy", session=cheat_session)
    assert rec["status"] == "failed"
    assert "threat-model violation" in rec["error"] and "predict_scores" in rec["error"]


def test_a_white_box_attack_cannot_change_the_next_cells_target(cheat_session):
    before = run_cell("loss", session=cheat_session)
    assert run_cell("cheat-zero-weights", session=cheat_session)["status"] == "ok"
    after = run_cell("loss", session=cheat_session)
    assert after["metrics"]["auc"] == before["metrics"]["auc"] > 0.6


def test_patching_the_metrics_in_the_worker_changes_nothing_here(cheat_session):
    assert run_cell("cheat-patch-metrics", session=cheat_session)["status"] == "ok"
    rec = run_cell("cheat-private", session=cheat_session)  # a coin flip here: no private path reaches the split
    assert rec["status"] == "ok" and rec["metrics"]["auc"] <= 0.6


@pytest.mark.slow
def test_runs_score_in_worker_processes_by_default_and_bench_testing_in_threads(tmp_path, session_cache):
    from bench._runner import Session

    plan = Plan(tracks=["synthetic-blobs"], attacks=["loss"], defenses=["none"], seeds=[0], out_dir=str(tmp_path / "out"),
                cache_dir=str(session_cache), device="cpu", progress=False, scenarios=False)
    assert plan.isolation is None
    (rec,) = run_plan(plan, session=Session(plan))
    assert rec["status"] == "ok", rec["error"]
    assert rec["isolation"]["mode"] == "process"
    assert run_cell("loss", session=make_session(cache_dir=session_cache))["isolation"]["mode"] == "thread"


def test_worker_openmp_threads_sleep_while_they_wait(monkeypatch):
    from bench._sandbox import worker_env

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert worker_env("/home")["OMP_WAIT_POLICY"] == "PASSIVE"  # spinning threads starve a loaded machine's cores
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert worker_env("/home")["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's choice is kept


class Hang(Attack):
    name = "hang"

    def score(self, ctx):
        import time

        time.sleep(3600)


class TinyBudgetBlobs(SyntheticBlobs):
    name = "tiny-budget-blobs"
    budgets = {"smoke": Budget("smoke", max_shadows=1, queries_per_candidate=4, device_seconds=0.5)}


def test_a_hung_worker_is_killed(session_cache):
    s = make_session(registry=registry_with(Hang, TinyBudgetBlobs), cache_dir=session_cache, timeout_grace=0.5, isolation="process")
    forked = []
    fork = s.workers.fork
    s.workers.fork = lambda files=(): forked.append(fork(files)) or forked[-1]
    rec = run_cell("hang", track="tiny-budget-blobs", session=s)
    assert rec["status"] == "timeout" and "worker was killed" in rec["error"]
    assert s.workers.exit_code(forked[0][0]) == -9  # SIGKILL: nothing is left running


class Local(Attack):
    name = "local-class"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        return ctx.rng.random(len(ctx.candidates))


def test_attack_classes_from_test_modules_run_in_the_worker_and_locals_are_refused(session_cache):
    def make_local():
        class Inner(Local):
            name = "inner-class"

        return Inner

    s = make_session(registry=registry_with(Local, make_local()), cache_dir=session_cache, isolation="process")
    assert run_cell("local-class", session=s)["status"] == "ok"
    rec = run_cell("inner-class", session=s)
    assert rec["status"] == "failed" and "defined inside a function" in rec["error"] and "isolation='thread'" in rec["error"]


class EditsItsCopy(Attack):
    """White-box: zeroes its copy of the target, then queries ctx.target (as rickrolling measures its backdoor)."""

    name = "edits-its-copy"
    threat_model = ThreatModel.WHITEBOX

    def score(self, ctx):
        import torch

        before = ctx.target.predict_scores(ctx.candidates.x)
        with torch.no_grad():
            for p in ctx.target.module.parameters():
                p.zero_()
        after = ctx.target.predict_scores(ctx.candidates.x)
        if np.ptp(after, axis=0).max() > 1e-9 or np.ptp(before, axis=0).max() < 1e-6:
            raise ValueError("ctx.target did not answer from the edited copy of the module")
        return before.max(1)


@pytest.mark.slow
def test_a_white_box_attack_queries_its_edited_copy_in_the_worker_as_in_a_thread(session_cache):
    used, auc = {}, {}
    for isolation in ("thread", "process"):
        s = make_session(registry=registry_with(EditsItsCopy), cache_dir=session_cache, isolation=isolation)
        rec = run_cell("edits-its-copy", session=s)
        assert rec["status"] == "ok", (isolation, rec["error"])
        used[isolation] = rec["budget"]["used"]["queries"]
        again = run_cell("loss", session=s)  # the harness's own target is untouched by the attack's edits
        assert again["status"] == "ok", again["error"]
        auc[isolation] = again["metrics"]["auc"]
    assert used["process"] == used["thread"] > 0  # still charged, though answered by the attack's copy
    assert auc["process"] == pytest.approx(auc["thread"]) and auc["thread"] > 0.5


def test_a_white_box_attack_against_a_prepared_serving_defense_runs_in_the_worker(session_cache):
    """MemGuard serves a model only with the defender it fitted (``Defense.prepare``). A white-box attack in a worker
    answers its queries from its own copy of the module, served through the defense there: the harness ships the
    target's prepared state with the module (it did for shadows only, so gradnorm and nasr failed against memguard in
    every official run). Same numbers as in a thread."""
    auc = {}
    for isolation in ("thread", "process"):
        s = make_session(cache_dir=session_cache, isolation=isolation)
        rec = run_cell("gradnorm", defense="memguard", session=s)
        assert rec["status"] == "ok", (isolation, rec["error"])
        auc[isolation] = rec["metrics"]["auc"]
    assert auc["process"] == pytest.approx(auc["thread"])


@pytest.mark.slow
def test_every_first_party_attack_gives_the_same_numbers_in_the_worker(tmp_path):
    cache = tmp_path / "cache"
    thread = make_session(cache_dir=cache, isolation="thread")
    names = [r.name for r in thread.registry.items("attacks") if r.obj().supports("classification") and r.plugin.distribution == "privbench"]
    assert len(names) >= 10
    process = make_session(cache_dir=cache, isolation="process")
    for name in names:
        a, b = run_cell(name, track="digits", session=thread), run_cell(name, track="digits", session=process)
        assert a["status"] == b["status"] == "ok", (name, a["error"], b["error"])
        assert b["isolation"]["mode"] == "process"
        for key, value in a["metrics"].items():
            if value is None:  # e.g. balanced_accuracy of an attack that sets no threshold
                assert b["metrics"][key] is None, (name, key)
                continue
            assert np.allclose(value, b["metrics"][key], rtol=1e-6, atol=1e-9), (name, key, value, b["metrics"][key])


@pytest.mark.slow
def test_cheaters_score_at_chance_or_fail_in_an_official_run_which_resumes(tmp_path):
    attacks = ["cheat-split", "cheat-private", "cheat-gc", "cheat-frames", "cheat-disk", "cheat-patch-metrics", "cheat-proxy", "cheat-len1", "cheat-exit", "honest-coin"]
    plan = Plan(tracks=["synthetic-blobs"], attacks=attacks, defenses=["none"], seeds=[0],
                out_dir=str(tmp_path / "out"), plugin_files=[CHEATERS], official=True, progress=False, scenarios=False,
                params={"cheat-disk": {"roots": str(tmp_path)}}, timeout_grace=0.5)
    records = run_plan(plan)
    by = {r["attack"]["name"]: r for r in records}
    for name, rec in by.items():
        assert rec["official"] is True and isinstance(rec["track"]["split_seed"], int)
        if rec["status"] == "ok":  # honest-coin included: it runs after the metric patch, which would score it 1.0
            assert rec["metrics"]["auc"] <= 0.60, (name, rec["metrics"]["auc"])
        else:
            assert rec["status"] in ("failed", "over_budget") and rec["error"], name
    assert by["cheat-proxy"]["status"] == "failed" and "threat-model violation" in by["cheat-proxy"]["error"]
    assert by["cheat-len1"]["status"] == "over_budget"
    private = Path(plan.out_dir) / ".official"
    assert private.stat().st_mode & 0o077 == 0  # the seed and the cold cache are the harness's alone
    assert by["honest-coin"]["status"] == "ok"
    seed = by["honest-coin"]["track"]["split_seed"]
    again = run_plan(Plan(**{**plan.as_dict(), "split_seed": None}))  # resumed: same private seed, nothing re-run
    assert {r["run_id"] for r in again} == {r["run_id"] for r in records}
    assert all(r["track"]["split_seed"] == seed for r in again)


def test_a_timing_query_crosses_to_the_harness():
    from bench._proxy import TargetProxy

    sent = []

    class Channel:
        used = {}

        def call(self, op, **kw):
            sent.append((op, kw))
            return np.zeros(len(kw["args"][0]))

    from bench import ThreatModel

    proxy = TargetProxy(Channel(), ThreatModel.TIMING, {}, "cpu")
    out = proxy.timings(np.zeros((3, 2)))
    assert out.shape == (3,) and sent[0][0] == "query" and sent[0][1]["name"] == "timings"


@pytest.mark.slow
def test_an_interrupted_official_run_resumes_on_its_split_without_losing_a_finished_cell(tmp_path):
    plan = Plan(tracks=["synthetic-blobs"], attacks=["loss", "honest-coin", "cheat-exit"], defenses=["none"], seeds=[0],
                out_dir=str(tmp_path / "out"), plugin_files=[CHEATERS], official=True, progress=False, scenarios=False, timeout_grace=0.5)

    def interrupt(record):
        raise KeyboardInterrupt  # Ctrl-C (or a killed harness) right after the first cell is written

    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, on_record=interrupt)
    first = [json.loads(line) for line in (Path(plan.out_dir) / "results.jsonl").read_text().splitlines()]
    assert len(first) == 1 and first[0]["attack"]["name"] == "loss" and first[0]["status"] == "ok"
    ran = []
    records = run_plan(Plan(**{**plan.as_dict(), "split_seed": None}), on_record=lambda r: ran.append(r["attack"]["name"]))
    assert ran == ["honest-coin", "cheat-exit"]  # the finished cell is kept, not re-run
    by = {r["attack"]["name"]: r for r in records}
    assert by["loss"] == first[0]
    assert by["cheat-exit"]["status"] == "failed" and by["honest-coin"]["status"] == "ok"  # os._exit costs only its cell
    assert {r["track"]["split_seed"] for r in records} == {first[0]["track"]["split_seed"]}  # the same private split
    assert {r["track"]["split_sha256"] for r in records} == {first[0]["track"]["split_sha256"]}


def test_a_cell_cannot_carry_a_file_to_the_next_target(tmp_path, monkeypatch):
    # Were target 1 among target 0's shadows (the pool design before the review's page-cache attack), a file left by
    # the run against target 0 would give the run against target 1 its exact membership: in-process it did (AUC
    # 1.0). Targets are never shadows now, so there is no row to carry even where files persist; a sandboxed worker
    # also gets its own /tmp, /var/tmp and /dev/shm (and works in one of them), so nothing carries over at all.
    monkeypatch.chdir(tmp_path)
    records = {}
    for isolation in ("thread", "process"):
        s = make_session(cache_dir=tmp_path / "cache", plugin_files=[TRACKS, CHEATERS], isolation=isolation)
        records[isolation] = run_cell("cheat-hoard", track="cheat-pool-blobs", session=s, attack_params={"tag": f"{tmp_path.name}-{isolation}"})
    box = records["process"]["isolation"]
    # in-process the files persist: the hoard says so on the run against target 1 (a cell of its own would score it)
    assert records["thread"]["status"] == "failed" and "carried over from an earlier run" in records["thread"]["error"]
    if box["sandboxed"]:
        assert records["process"]["status"] == "ok" and box["private_tmp"] is True, records["process"]["error"]
        assert all(row["auc"] < 0.7 for row in records["process"]["per_target"])
    else:  # no sandbox on this machine (not root, no bubblewrap): the record says so, and the files persist
        assert "carried over from an earlier run" in records["process"]["error"]


@pytest.mark.slow
def test_an_attacks_own_code_never_runs_in_the_harness_process(tmp_path):
    # Before official runs described attack plugins in the sandbox (bench._describe): cheat-init (a coin flip whose
    # __init__ wraps bench._scoring.check_scores) scored AUC 1.000 in an official, bwrap-sandboxed run (private_tmp
    # true) where honest-coin scored 0.489; `verify` would have reproduced it and agreed.
    import bench._scoring
    import bench._session

    plan = Plan(tracks=["cheat-pool-blobs"], attacks=["cheat-init"], defenses=["none"], seeds=[0], budget="smoke",
                out_dir=str(tmp_path / "out"), plugin_files=[TRACKS, CHEATERS], official=True, progress=False, scenarios=False)
    original = bench._scoring.check_scores
    try:
        (rec,) = run_plan(plan)
    finally:  # the cheat would stay in this process otherwise
        patched = bench._scoring.check_scores is not original or bench._session.check_scores is not original
        bench._scoring.check_scores = bench._session.check_scores = original
    assert not patched  # its __init__ never ran here
    assert rec["status"] == "ok" and rec["official"] is True, rec["error"]
    assert rec["metrics"]["auc"] < 0.65, rec["metrics"]["auc"]


def _lingering() -> list[int]:
    import subprocess

    out = subprocess.run(["ps", "-eo", "pid=,comm="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if line.split()[1:] == ["pb-linger"]]


@pytest.mark.slow
def test_no_cell_outlives_its_result(tmp_path):
    # A cell that sends its own result and keeps running was recorded ok and burned a core for as long as the session
    # lasted (bwrap and nobody alike); escaping its process group and clearing its parent-death signal did not help it.
    linger = str(Path(__file__).parent / "cheaters" / "linger.py")
    for escape in (False, True):
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / f"out-{escape}"), plugin_files=[linger], isolation="process")
        try:
            rec = run_cell("cheat-linger", track="synthetic-blobs", session=s, attack_params={"escape": escape, "seconds": 60.0})
            assert rec["status"] == "ok", rec["error"]
            deadline = time.monotonic() + 5
            while _lingering() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _lingering() == [], f"escape={escape}: a cell still runs after its result"
        finally:
            for pid in _lingering():  # this test's own cheater, if the assertion above failed
                os.kill(pid, signal.SIGKILL)
            s.close()


def test_starting_a_zygote_ends_the_idle_ones_but_never_a_running_worker(tmp_path):
    """Each zygote is a whole interpreter with torch: a test process that kept one per session ran out of memory."""
    from bench._pool import WorkerPool

    files = []
    for name in "abc":
        (tmp_path / f"{name}.py").write_text("")
        files.append(str(tmp_path / f"{name}.py"))
    a, b, c = (WorkerPool.shared(hide=[str(tmp_path / "hidden")], sandbox="none", plugin_files=[f]) for f in files)
    assert len({id(a), id(b), id(c)}) == 3  # sandboxes that look different: pools of their own
    try:
        a.start()
        first = a._proc.pid
        b.start()
        assert a._proc is None  # idle: ended when b's zygote started
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
        pid, conn = b.fork()  # b now runs a worker ...
        c.start()
        assert b._proc is not None and b.busy  # ... so c's start leaves it alone
        b.kill(pid)
        conn.close()
        assert not b.busy
        a.fork()[1].close()  # a session still holding the ended pool gets a fresh zygote
        assert a._proc is not None and a._proc.pid != first and c._proc is None
    finally:
        for pool in (a, b, c):
            pool.close()
