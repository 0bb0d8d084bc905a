"""The ray executor on a real two-node Ray cluster on loopback (head and worker as separate processes).

Every node is pinned to 127.0.0.1 and the test checks the addresses the nodes report, so no test
traffic leaves the machine. Nodes run with ``--block`` in their own process groups, which the
fixture kills by group id afterwards, even when the test fails.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from bench._runner import Plan, Session, run_plan
from bench.executors import LocalExecutor

ray = pytest.importorskip("ray", reason="the ray extra is part of .[dev]")  # installed in CI through the dev extra

RAY = str(Path(sys.executable).with_name("ray"))
# A virtual environment that reaches Ray through another one's site-packages has no `ray` script of its own.
_RAY_CLI = [RAY] if Path(RAY).exists() else [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Ray rewrites a loopback address it is given (--address, ray.init) into the machine's external IP
# (ray._private.services.resolve_ip_for_localhost), where a node pinned to 127.0.0.1 does not listen.
# The head and the driver turn that off with Ray's own switch (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0);
# a joining node refuses that switch, so its launcher keeps the loopback address as given instead.
_WORKER_LAUNCHER = (
    "import sys, ray._private.services as s; s.resolve_ip_for_localhost = lambda host: host; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)


def _start(args, log, head):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    if head:
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--object-store-memory=80000000", "--disable-usage-stats", "--block"]
    cmd = _RAY_CLI if head else [sys.executable, "-c", _WORKER_LAUNCHER]
    return subprocess.Popen([*cmd, "start", *args, *common], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _forget_cached_token():
    try:  # Ray caches the token and the auth mode it read once per process (Ray >= 2.5x); older Rays have no token auth
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _kill(proc):
    if True:  # even if the `ray start` process is gone, its group may live on
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)  # the node's own process group: raylet, GCS, its workers
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
            time.sleep(0.5)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    from ray._private import ray_constants

    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)  # the driver: keep 127.0.0.1 as given
    port = _free_port()
    address = f"127.0.0.1:{port}"
    logs = tmp_path / "ray-logs"
    logs.mkdir()
    procs = {}
    short = tempfile.mkdtemp(prefix="pbray-", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    # What an earlier Ray run leaves in the home folder must not matter: a stale token there made this test fail
    # with InvalidAuthToken. The cluster and the driver share a token of their own, in the cluster's folder.
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("token-of-an-earlier-ray-run")
    monkeypatch.setenv("HOME", str(home))
    token = Path(short) / "auth_token"
    token.write_text(uuid.uuid4().hex)
    token.chmod(0o600)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    # Token auth named for every process: `ray start` turns it on when it finds a token (the stale one, before), while
    # a connecting driver reads RAY_AUTH_MODE once and stays 'disabled' -> InvalidAuthToken.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    _forget_cached_token()
    try:
        procs["head"] = _start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={short}"], open(logs / "head.log", "w"), head=True)
        time.sleep(3)
        if procs["head"].poll() is not None:
            raise RuntimeError(f"the Ray head did not start: {(logs / 'head.log').read_text()[-3000:]}")
        procs["worker"] = _start([f"--address={address}"], open(logs / "worker.log", "w"), head=False)
        ray.init(address=address, _node_ip_address="127.0.0.1", log_to_driver=False)
        deadline = time.time() + 90
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            if time.time() > deadline:
                raise RuntimeError(f"the Ray cluster did not come up: {[(p, (logs / f'{p}.log').read_text()[-2000:]) for p in procs]}")
            time.sleep(1)
        yield address, procs
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for name in ("worker", "head"):
            if name in procs:
                _kill(procs[name])
        shutil.rmtree(short, ignore_errors=True)
        _forget_cached_token()


def _plan(tmp_path, name, cache):
    return Plan(tracks=["synthetic-blobs"], attacks=["loss", "lira", "lira-offline"], defenses=["none"], seeds=[0, 1], budget="smoke",
                out_dir=str(tmp_path / name), cache_dir=str(tmp_path / cache), device="cpu", progress=False)


def _comparable(records):
    return {r["run_id"]: (r["status"], r["error"], json.dumps(r["metrics"], sort_keys=True), r["utility"]) for r in records}


@pytest.mark.slow
def test_ray_grid_equals_local_and_survives_a_dead_worker(cluster, tmp_path):
    import torch

    address, procs = cluster
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}  # nothing bound to an external interface
    assert ray.util.get_node_ip_address() == "127.0.0.1"

    # The reference: the same grid through the local executor, one thread as in Ray's 1-CPU workers.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local_plan = _plan(tmp_path, "local", "cache-local")
        local = run_plan(local_plan, session=Session(local_plan), executor=LocalExecutor())
    finally:
        torch.set_num_threads(threads)
    assert [r["status"] for r in local] == ["ok"] * 6

    from bench.executors_ray import RayExecutor

    ray_plan = _plan(tmp_path, "ray", "cache-ray")
    seen = []

    def kill_worker_after_first(record):
        seen.append(record["run_id"])
        if len(seen) == 1:
            _kill(procs["worker"])  # mid-run: the other cells are queued or running on it

    records = run_plan(ray_plan, session=Session(ray_plan), executor=RayExecutor(address=address), on_record=kill_worker_after_first)
    assert procs["worker"].poll() is not None
    assert _comparable(records) == _comparable(local)
    lines = [json.loads(l) for l in (tmp_path / "ray" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["run_id"] for r in lines) == sorted(_comparable(local))  # each cell written once, the first one kept
    assert lines[0]["run_id"] == seen[0]


def test_ray_is_an_executor_plugin_registered_by_name_and_imports_ray_only_to_run():
    import subprocess as sp

    code = ("import sys; from bench._plugins import load_plugins; from bench.executors_ray import RayExecutor; "
            "reg = load_plugins()[1].get('executors', 'ray'); "
            "assert reg.obj is RayExecutor and reg.plugin.name == 'ray-executor', reg; print('ray' in sys.modules)")
    out = sp.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]  # discovery and the executor's import leave Ray alone


def _listening(psutil):
    """(process, ip, port) of every listening TCP socket and bound UDP socket of this process and its descendants."""
    me = psutil.Process()
    out = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            for c in proc.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and c.laddr):
                    out.append((proc.name(), c.laddr.ip, c.laddr.port))
        except psutil.Error:  # a process that ended meanwhile
            pass
    return out


def _loopback(ip):
    import ipaddress

    addr = ipaddress.ip_address(ip.split("%")[0])
    return addr.is_loopback or getattr(addr, "ipv4_mapped", None) is not None and addr.ipv4_mapped.is_loopback


@pytest.mark.slow
def test_a_local_cluster_listens_on_loopback_only_and_ignores_a_stale_home_token(tmp_path, monkeypatch):
    psutil = pytest.importorskip("psutil", reason="psutil is part of .[dev]")
    from ray._private import ray_constants

    from bench.executors_ray import RayExecutor

    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    stale = home / ".ray" / "auth_token"
    stale.write_text("token-of-an-earlier-ray-run")  # what made the cluster test fail with InvalidAuthToken
    monkeypatch.setenv("HOME", str(home))
    for var in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE", ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR):
        monkeypatch.delenv(var, raising=False)  # restored after the test: the executor sets some for its cluster
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", ray_constants.ENABLE_RAY_CLUSTER)
    assert not ray.is_initialized()
    plan = Plan(tracks=["synthetic-blobs"], attacks=["loss"], defenses=["none"], seeds=[0, 1], budget="smoke",
                out_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), device="cpu", progress=False, scenarios=False)
    seen = []
    try:
        records = run_plan(plan, session=Session(plan), executor=RayExecutor(), on_record=lambda r: seen.extend(_listening(psutil)))
    finally:
        ray.shutdown()
        _forget_cached_token()
    assert [r["status"] for r in records] == ["ok", "ok"], [r["error"] for r in records]
    names = {name for name, _, _ in seen}
    assert "raylet" in names and "gcs_server" in names, seen  # the look reached the cluster's own processes
    assert [s for s in seen if not _loopback(s[1])] == []
    assert stale.read_text() == "token-of-an-earlier-ray-run"  # neither used nor overwritten
