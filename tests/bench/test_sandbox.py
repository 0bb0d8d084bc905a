"""The worker's sandbox (bench._sandbox): no cache, run folder or network for a sandboxed attack."""

import os
import socket
import sys
from pathlib import Path

import pytest

from bench._sandbox import Sandbox, _works, detect, keep_paths
from bench.testing import make_session, run_cell

CHEATERS = str(Path(__file__).parent / "cheaters" / "plugin.py")
TRACKS = str(Path(__file__).parent / "cheaters" / "tracks.py")  # cheat-pool-blobs


def test_an_unknown_sandbox_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="expected auto, bwrap, nobody or off"):
        detect("docker")
    assert detect("off") == Sandbox("none") and not Sandbox("none").sandboxed


def test_bwrap_command_hides_tmp_home_and_named_folders_and_keeps_code(tmp_path):
    code = tmp_path / "plugin.py"
    code.write_text("")
    hidden = Path("/var/tmp") if Path("/var/tmp").is_dir() else tmp_path
    cmd = Sandbox("bwrap").command(["python"], hide=[hidden], keep=[code])
    assert cmd[0] == "bwrap" and "--unshare-all" in cmd and cmd[-2:] == ["--", "python"]
    assert cmd[cmd.index("--tmpfs", cmd.index("--proc")) + 1] == "/tmp"
    assert ["--ro-bind", str(code.resolve()), str(code.resolve())] == cmd[cmd.index(str(code.resolve())) - 1 : cmd.index(str(code.resolve())) + 2]
    assert cmd[cmd.index(str(hidden.resolve())) - 1] == "--tmpfs"  # named folders are hidden after the code is bound back


def _working_kinds():
    kinds = [k for k in ("bwrap", "nobody") if _works(k)]
    assert kinds, "no sandbox works on this machine: install bubblewrap (see the README's set-up line)"
    return kinds


@pytest.mark.slow
def test_a_sandboxed_attack_cannot_read_the_cache_or_the_run_folder_or_reach_localhost(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        for kind in _working_kinds():
            cache, out = tmp_path / kind / "cache", tmp_path / kind / "out"
            cache.mkdir(parents=True)
            secret = cache / "secret.txt"
            secret.write_text("membership")
            s = make_session(cache_dir=cache, out_dir=str(out), plugin_files=[CHEATERS], sandbox=kind, isolation="process")
            rec = run_cell("probe-sandbox", session=s, attack_params={"path": str(secret), "folder": str(out), "port": port})
            assert rec["isolation"] == {"mode": "process", "sandbox": kind, "sandboxed": True, "private_tmp": True}
            assert "file=denied" in rec["error"] and "folder=denied" in rec["error"] and "socket=denied" in rec["error"], (kind, rec["error"])
            # The same probe unsandboxed reaches all three: the test would notice a probe that cannot.
            s = make_session(cache_dir=cache, out_dir=str(out), plugin_files=[CHEATERS], sandbox="off", isolation="process")
            rec = run_cell("probe-sandbox", session=s, attack_params={"path": str(secret), "folder": str(out), "port": port})
            assert rec["isolation"]["sandboxed"] is False
            assert "file=read:membership" in rec["error"] and "folder=listed" in rec["error"] and "socket=connected" in rec["error"], rec["error"]
    finally:
        server.close()


def test_the_worker_keeps_the_harness_sources_even_off_its_import_path(monkeypatch):
    # An editable install maps `bench` from its checkout through a finder, not sys.path: a checkout under /tmp
    # (hidden by bwrap) must still be bound back, or the sandbox probe fails and the run falls back to `nobody`.
    import bench

    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    root = str(Path(bench.__file__).resolve().parents[1])
    assert root in keep_paths()


def _remove_shm(tag, width):
    """The System V segment cheat-carry's ``sysv`` channel leaves in the host's IPC namespace when unsandboxed."""
    import ctypes
    import zlib

    libc = ctypes.CDLL(None, use_errno=True)
    sid = libc.shmget(zlib.crc32(f"privbench-carry-{tag}-{width}".encode()) & 0x7FFFFFFF, 0, 0)
    if sid >= 0:
        libc.shmctl(sid, 0, None)  # IPC_RMID


@pytest.mark.slow
def test_no_channel_carries_one_targets_rows_to_the_next(tmp_path):
    # When the run against target 0 was given target 1 as a shadow, with its inclusion row, anything that outlived
    # the run handed the run against target 1 its exact membership (targets are never shadows now; cheat-carry raises
    # when anything reaches it, so these tests still hold the channels shut). Before each cell got its own IPC,
    # network and pid namespaces and a read-only view outside its scratch folders, each channel here scored AUC 1.000
    # on target 1 in both sandboxes: a file in bwrap's tmpfs home or /dev or the host's /run/lock, a System V
    # shared-memory segment, a daemon reached through an abstract unix socket.
    for kind in _working_kinds():
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / kind), plugin_files=[TRACKS, CHEATERS], sandbox=kind, isolation="process")
        for channel in ("dirs", "sysv", "abstract"):
            rec = run_cell("cheat-carry", track="cheat-pool-blobs", session=s, attack_params={"tag": f"{tmp_path.name}-{kind}", "channel": channel})
            assert rec["status"] == "ok" and rec["isolation"]["private_tmp"] is True, (kind, channel, rec["error"])
            assert len(rec["per_target"]) >= 2 and all(row["auc"] < 0.7 for row in rec["per_target"]), (kind, channel, rec["per_target"])
    # The same shared memory without the sandbox: the cheater works where the channel exists.
    s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / "off"), plugin_files=[TRACKS, CHEATERS], sandbox="off", isolation="process")
    try:
        rec = run_cell("cheat-carry", track="cheat-pool-blobs", session=s, attack_params={"tag": f"{tmp_path.name}-off", "channel": "sysv"})
    finally:
        _remove_shm(f"{tmp_path.name}-off", 400)
    assert rec["isolation"]["sandboxed"] is False and "carried over from an earlier run" in rec["error"], rec["error"]


def test_code_under_tmp_is_still_importable_inside_a_cells_private_tmp(tmp_path):
    # A checkout or plugin folder under /tmp is bound back into each cell's fresh /tmp: an attack importing a sibling
    # module lazily, inside score(), still finds it (the bind's source is opened inside the cell's mount namespace).
    (tmp_path / "lazy_helper_mod.py").write_text("def scores(n):\n    return [0.5] * n\n")
    plugin = tmp_path / "lazy_plugin.py"
    plugin.write_text(
        "import sys\nfrom bench import Attack, ThreatModel, hookimpl\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "class Lazy(Attack):\n    name = 'lazy-import'\n    threat_model = ThreatModel.LABEL\n"
        "    def score(self, ctx):\n        import lazy_helper_mod\n        return lazy_helper_mod.scores(len(ctx.candidates))\n"
        "@hookimpl\ndef register_attacks(register):\n    register(Lazy)\n")
    s = make_session(cache_dir=tmp_path / "cache", plugin_files=[str(plugin)], isolation="process")
    # twice: the first cell's child is forked for it (its plugin folder is new to the zygote), the second is the spare
    # forked ahead with that folder bound back
    for _ in range(2):
        rec = run_cell("lazy-import", session=s)
        assert rec["status"] == "ok", rec["error"]
        if rec["isolation"]["sandboxed"]:
            assert rec["isolation"]["private_tmp"] is True


def test_a_plugin_file_under_tmp_runs_in_a_sandboxed_cell(tmp_path):
    # Nothing puts its folder on the import path (the test above does, which hid a bug): the cell's private /tmp must
    # bind the plugin file's folder back because the cell's code files name it (bench._zygote.cell_folders).
    plugin = tmp_path / "plain_tmp_plugin.py"
    plugin.write_text(
        "from bench import Attack, ThreatModel, hookimpl\n"
        "class Plain(Attack):\n    name = 'plain-tmp'\n    threat_model = ThreatModel.LABEL\n"
        "    def score(self, ctx):\n        return ctx.rng.random(len(ctx.candidates))\n"
        "@hookimpl\ndef register_attacks(register):\n    register(Plain)\n")
    s = make_session(cache_dir=tmp_path / "cache", plugin_files=[str(plugin)], isolation="process")
    for _ in range(2):  # a fresh child, then the spare forked with that folder
        rec = run_cell("plain-tmp", session=s)
        assert rec["status"] == "ok", rec["error"]
        if rec["isolation"]["sandboxed"]:
            assert rec["isolation"]["private_tmp"] is True


def test_a_cells_code_folders_are_those_a_private_tmp_would_hide():
    from bench._sandbox import keep_paths
    from bench._zygote import cell_folders

    kept = next(p for p in keep_paths() if os.path.isdir(p))
    assert cell_folders(["/tmp/x/plugin.py", "/tmp/x/other.py", "/var/tmp/y/a.py", "/opt/z/b.py", "", None]) == ("/tmp/x", "/var/tmp/y")
    assert cell_folders([os.path.join(kept, "mod.py")]) == ()  # bound back for every cell already


def test_a_plugin_folder_under_tmp_is_bound_back_although_the_zygotes_path_holds_tmp(monkeypatch):
    # bwrap starts the zygote in /tmp, so /tmp itself is on its import path; it must not count as "bound back already"
    import bench._zygote as zygote

    monkeypatch.setattr(zygote, "_KEEP", ("/tmp", "/usr/lib/python3", "/tmp/checkout"))
    assert zygote.cell_folders(["/tmp/run/plugin.py", "/tmp/checkout/plugins/a.py"]) == ("/tmp/run",)


def test_a_cell_keeps_the_harness_sources_wherever_the_checkout_is():
    # A fresh clone under /tmp (CI's) installed editable: `bench` is mapped from the checkout, off sys.path. The cell's
    # private /tmp must bind that folder back, or every lazy `import bench.signals` in an attack fails.
    import bench
    from bench._zygote import cell_keep_paths

    root = str(Path(bench.__file__).resolve().parents[1])
    assert root in cell_keep_paths(())


def test_bwrap_binds_the_hosts_gpu_device_nodes(monkeypatch):
    # bwrap's minimal /dev has no /dev/nvidia*: without the binds, an attack in a sandboxed worker would see no GPU
    import bench._sandbox as sandbox

    monkeypatch.setattr(sandbox, "_gpu_devices", lambda: ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"])
    argv = Sandbox("bwrap").command(["python"])
    for dev in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"):
        i = argv.index(dev)
        assert argv[i - 1] == "--dev-bind" and argv[i + 1] == dev
    assert argv.index("--dev") < argv.index("/dev/nvidia0")  # after the fresh /dev, or it would cover them
    monkeypatch.setattr(sandbox, "_gpu_devices", lambda: [])
    assert "--dev-bind" not in Sandbox("bwrap").command(["python"])


def test_the_zygote_asks_for_cuda_through_nvml_so_its_forks_can_use_the_gpu(monkeypatch):
    # Warming torch in the zygote runs an Adam step, which asks torch.cuda.is_available(); through the CUDA runtime
    # that marks the zygote so that no forked cell can use CUDA (seen on an H100: every worker attack raised
    # "Cannot re-initialize CUDA in forked subprocess"). NVML answers the question without that mark.
    import torch

    from bench._sandbox import worker_env
    from bench._warm import warm_torch

    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK", raising=False)
    assert worker_env("/nonexistent")["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"
    asked = []
    real = torch.cuda.is_available
    monkeypatch.setattr(torch.cuda, "is_available", lambda: asked.append(1) or real())
    import bench._sandbox as sandbox

    monkeypatch.setattr(sandbox, "_gpu_devices", lambda: [])
    warm_torch()
    assert asked  # the warm-up does ask (if torch stops asking, the setting is harmless)
    asked.clear()
    monkeypatch.setattr(sandbox, "_gpu_devices", lambda: ["/dev/nvidiactl", "/dev/nvidia0"])
    warm_torch()  # on a GPU machine autograd's first backward would initialise CUDA in the zygote: no warm-up there
    assert not asked


def test_a_worker_that_cannot_use_its_cuda_device_says_so_before_the_attack_runs(monkeypatch):
    import torch

    from bench._warm import check_cuda

    check_cuda("cpu")  # nothing to check

    def broken():
        raise RuntimeError("CUDA error: initialization error")

    monkeypatch.setattr(torch.cuda, "init", broken)
    with pytest.raises(RuntimeError, match="attack worker cannot use cuda:0 on this machine.*--isolation thread"):
        check_cuda("cuda:0")


@pytest.mark.slow
def test_a_cell_cannot_take_its_own_private_tmp_off(tmp_path):
    # A cell's private /tmp is a tmpfs it mounted itself, in a user namespace of its own: from there it could unmount
    # it, clear the read-only flag it had set on the zygote's shared /tmp below, and carry the pool's inclusion rows
    # to the next target. Before the mounts were locked (a nested user namespace, bench._sandbox.private_scratch),
    # cheat-unmount scored AUC 1.000 on target 1 in both sandboxes (official runs, private_tmp true).
    unmount = str(Path(__file__).parent / "cheaters" / "unmount.py")
    for kind in _working_kinds():
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / kind), plugin_files=[TRACKS, unmount], sandbox=kind, isolation="process")
        rec = run_cell("cheat-unmount", track="cheat-pool-blobs", session=s, attack_params={"tag": f"{tmp_path.name}-{kind}"})
        assert rec["status"] == "ok" and rec["isolation"]["private_tmp"] is True, (kind, rec["error"])
        assert len(rec["per_target"]) >= 2 and all(row["auc"] < 0.7 for row in rec["per_target"]), (kind, rec["per_target"])


@pytest.mark.slow
def test_a_cell_cannot_carry_rows_in_the_host_name(tmp_path):
    # The cells shared the zygote's UTS namespace. Under bwrap (root harness), cheat-hostname-rw cleared /proc's
    # read-only flag in its own mount namespace and wrote its shadows' rows into the host name. It scored AUC 0.794 on
    # target 1 until each cell got a UTS namespace of its own. Under nobody the cell's uid may not write it at all.
    hostname = str(Path(__file__).parent / "cheaters" / "hostname.py")
    for kind in _working_kinds():
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / kind), plugin_files=[TRACKS, hostname], sandbox=kind, isolation="process")
        rec = run_cell("cheat-hostname-rw", track="cheat-pool-blobs", session=s, attack_params={"tag": kind})
        if rec["status"] != "ok":
            # nobody: its uid may not write it; bwrap: its /proc is read-only, and locked so (seal_cell)
            assert ("Permission denied" in rec["error"] or "Read-only file system" in rec["error"]) and "hostname" in rec["error"], (kind, rec["error"])
            continue
        assert len(rec["per_target"]) >= 2 and all(row["auc"] < 0.7 for row in rec["per_target"]), (kind, rec["per_target"])


def test_a_cell_cannot_carry_rows_in_a_session_keyring(tmp_path):
    # The cells shared the zygote's session keyring: cheat-keyring added a key holding its shadows' rows, and the
    # run against the next target read it. Each cell now joins a keyring of its own (bench._sandbox.seal_cell).
    import ctypes

    from bench._sandbox import _KEYCTL_JOIN_SESSION_KEYRING, _SYS_KEYCTL

    # a harness started from a login shell (pam_keyinit) holds a session keyring, which its zygote inherits: so here
    assert ctypes.CDLL(None).syscall(_SYS_KEYCTL[os.uname().machine], _KEYCTL_JOIN_SESSION_KEYRING, None) > 0
    procfs = str(Path(__file__).parent / "cheaters" / "procfs.py")
    for kind in _working_kinds():
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / kind), plugin_files=[TRACKS, procfs], sandbox=kind, isolation="process")
        rec = run_cell("cheat-keyring", track="cheat-pool-blobs", session=s, attack_params={"tag": kind})
        assert rec["status"] == "ok" and rec["isolation"]["private_tmp"] is True, (kind, rec["error"])
        assert len(rec["per_target"]) >= 2 and all(row["auc"] < 0.7 for row in rec["per_target"]), (kind, rec["per_target"])


def test_a_cell_sees_only_its_own_processes_and_changes_nothing_through_proc(tmp_path):
    # Through the sandbox's /proc a cell saw the spare forked for the next cell (same uid: its memory was writable
    # once the cell cleared the read-only flag on its own /proc mount, which it could), and could set oom_score_adj
    # and the autogroup's nice value that the next cell read. Under bwrap run by root the host's sysctls passed the
    # permission check too. Now: a /proc of the cell's own pid namespace, read-only and locked.
    import json

    procfs = str(Path(__file__).parent / "cheaters" / "procfs.py")
    for kind in _working_kinds():
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / kind), plugin_files=[TRACKS, procfs], sandbox=kind, isolation="process")
        rec = run_cell("cheat-proc-view", track="cheat-pool-blobs", session=s)
        assert rec["status"] == "failed" and "PROC-VIEW " in rec["error"], (kind, rec["error"])
        seen = json.loads(rec["error"].split("PROC-VIEW ", 1)[1].splitlines()[0])
        assert max(seen["pids"]) <= 8, (kind, seen)  # its namespace's init (1), itself (2), what it started
        assert seen["clear_ro"] != 0 and seen["remount_rw"] != 0 and seen["umount"] != 0, (kind, seen)
        assert seen["oom_score_adj"] != "written" and seen["autogroup"] != "written" and not seen["core_pattern"], (kind, seen)


@pytest.mark.parametrize("nested", [True, False])
def test_a_cell_half_set_up_keeps_no_capability_over_its_mounts(nested):
    # private_scratch's first user namespace gives the cell every capability over its own mounts (it could unmount
    # its private /tmp and reach the zygote's below). Should a later step fail, the cell drops them in a nested
    # namespace and runs with private_tmp false; where the kernel refuses even that, the cell does not run at all.
    import ctypes

    from bench import _sandbox

    read, write = os.pipe()
    pid = os.fork()
    if not pid:  # the child: one thread, as the zygote's children are
        os.close(read)
        os.dup2(write, 2)
        real = ctypes.CDLL(None, use_errno=True)

        class Refusing:  # the kernel refuses the pid namespace (and, unless nested, any further user namespace)
            def __getattr__(self, name):
                return getattr(real, name)

            def unshare(self, flags):
                if flags == _sandbox._CLONE_NEWPID or flags == _sandbox._CLONE_NEWUSER and not nested:
                    return -1
                return real.unshare(flags)

        ctypes.CDLL = lambda *a, **k: Refusing()
        host = os.readlink("/proc/self/ns/mnt")
        done = _sandbox.private_scratch([])
        if os.readlink("/proc/self/ns/mnt") == host:  # never touch the host's own mounts
            os.write(2, b"no mount namespace of its own")
            os._exit(1)
        clear = (ctypes.c_uint64 * 4)(0, _sandbox._MOUNT_ATTR_RDONLY, 0, 0)
        undone = real.syscall(_sandbox._SYS_MOUNT_SETATTR, _sandbox._AT_FDCWD, b"/tmp", 0, clear, ctypes.sizeof(clear)) == 0
        unmounted = real.umount2(b"/tmp", 2) == 0
        os.write(2, f"done={done} undone={undone} unmounted={unmounted}".encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        said = f.read()
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if nested:
        assert code == 0 and said == "done=False undone=False unmounted=False", said
    else:
        assert code == 70 and "the cell did not run" in said and "user.max_user_namespaces" in said, (code, said)


def test_no_sandboxed_process_writes_the_hosts_kernel_settings():
    # Under bwrap run by root the sandbox's uid is the host's root to the kernel, and /proc/sys checks no more than
    # that: a plugin's import (the sandbox that describes plugins runs it) rewrote the host's vm.swappiness, and could
    # have set kernel.core_pattern, a program the kernel runs as root. (Should this test fail, it wrote the same value.)
    import subprocess

    from bench._sandbox import worker_env

    for kind in _working_kinds():
        box = Sandbox(kind)
        script = "v=$(cat /proc/sys/vm/swappiness) && echo $v > /proc/sys/vm/swappiness"
        out = subprocess.run(box.command(["sh", "-c", script]), env=worker_env(box.home()), capture_output=True, text=True, cwd="/")
        assert out.returncode != 0 and ("Read-only" in out.stderr or "Permission denied" in out.stderr), (kind, out.returncode, out.stderr)


def test_no_sandboxed_process_reaches_the_hosts_proc():
    # bwrap run by root keeps the host's /proc in its sandbox (the fully visible /proc a cell's own needs). In a
    # mode-0000 folder it was not enough: the sandbox's root owns that folder, chmod opened it, and the host's
    # processes' roots led to the host's files. It is covered now; neither chmod nor a namespace of its own uncovers it.
    import subprocess

    from bench._sandbox import _PROC_WITNESS, worker_env

    look = (f"import os\nd, up = {_PROC_WITNESS!r}, []\nwhile d != '/tmp':\n up.append(d); d = os.path.dirname(d)\n"
            "for d in reversed(up):\n try: os.chmod(d, 0o755)\n except OSError: pass\n"
            "for root, dirs, files in os.walk('/tmp'):\n if '1' in dirs and 'self' in dirs + files: print('PROC', root); dirs[:] = []")
    for kind in _working_kinds():
        box = Sandbox(kind)
        again = ["unshare", "-Urm", "sh", "-c", f"umount -l {_PROC_WITNESS}; exec {sys.executable} -c \"$0\"", look]
        for argv in [[sys.executable, "-c", look]] + [again] * (kind == "bwrap"):  # the host's /proc is only there
            out = subprocess.run(box.command(argv, keep=keep_paths()), env=worker_env(box.home()), capture_output=True, text=True, cwd="/")
            assert out.returncode == 0 and "PROC" not in out.stdout, (kind, argv[0], out.stdout, out.stderr)


@pytest.mark.slow
def test_a_cell_cannot_carry_rows_in_a_keyring_that_outlives_it(tmp_path):
    # Keyrings are not namespaced: a key's owner is a kernel uid, and every sandboxed process of a root harness is kuid
    # 0 (bwrap) or 65534 (nobody). The sandbox that describes a plugin lists the per-user keyrings in its /proc/keys
    # (root's ``_uid.0``, or the one its import makes for nobody) and hands their ids to each cell as a default
    # parameter; a cell links a key of its own into one (its owner may write it), and the next cell reads it.
    # cheat-host-keyring scored AUC 0.794 on target 1 in both sandboxes (adversarial review, commit f465945); the key
    # outlived the run, in the host root's own user keyring.
    from bench._describe import describe_plugins

    hostkeys = str(Path(__file__).parent / "cheaters" / "hostkeys.py")
    for kind in _working_kinds():
        described = describe_plugins([("hostkeys", hostkeys, "file", hostkeys)], sandbox=kind)["hostkeys"]
        rings = described.attacks[0].params["rings"]  # as an official run would pass them: the attack's defaults
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / kind), plugin_files=[TRACKS, hostkeys], sandbox=kind, isolation="process")
        params = {"tag": f"{tmp_path.name}-{kind}", "rings": rings}
        try:
            rec = run_cell("cheat-host-keyring", track="cheat-pool-blobs", session=s, attack_params=params)
        finally:  # unlink the key from the host's keyring, from a cell (the key's owner)
            run_cell("cheat-host-keyring", track="cheat-pool-blobs", session=s, attack_params={**params, "cleanup": True})
        if rec["status"] != "ok":  # refused: no keyring of the host's reachable
            assert "nowhere to store" in rec["error"], (kind, rec["error"])
            continue
        assert rec["isolation"]["private_tmp"] is True, (kind, rec["isolation"])
        assert len(rec["per_target"]) >= 2 and all(row["auc"] < 0.7 for row in rec["per_target"]), (kind, rec["per_target"])


@pytest.mark.slow
def test_a_cell_cannot_carry_rows_in_the_page_cache(tmp_path):
    # The page cache is one for the whole machine, and no namespace splits it: a cell reads the pages of a large
    # read-only file (a static libpython) that spell its shadows' inclusion rows, drops the others (fadvise), and the
    # next cell asks which are cached (mincore as the file's owner under bwrap; a read that may not wait, under nobody).
    # cheat-page-cache scored AUC 1.000 (bwrap) and 0.999 (nobody) on target 1 (adversarial review, commit f465945);
    # the pages outlive the run, so the next run on the same seed reads them too. Reads, and so a read's timing,
    # cannot be taken from a cell: only a design where no run sees another target's row closes it, and targets are
    # never shadows now (bench._pool_design): the channel stays open, with nothing worth carrying in it.
    _assert_nothing_carried(tmp_path, str(Path(__file__).parent / "cheaters" / "pagecache.py"), "cheat-page-cache")


def test_a_plugins_import_cannot_enter_the_hosts_proc():
    # Under bwrap run by root the host's /proc is bound under a folder of mode 0000 (bench._sandbox._PROC_WITNESS),
    # but bwrap makes that folder on the sandbox's writable /tmp, owned by the sandbox's uid: a plugin's import, in the
    # sandbox that describes it (not sealed as a cell is), chmods it and lists every process of the host (141 here,
    # against its own 2), their command lines, the host's mounts (adversarial review, commit f465945). A read-only
    # The witness is now covered by a tmpfs over its folder (chmod opens an empty folder).
    from bench._describe import describe_plugins

    witness = str(Path(__file__).parent / "cheaters" / "witness.py")
    for kind in _working_kinds():
        seen = describe_plugins([("witness", witness, "file", witness)], sandbox=kind)["witness"].attacks[0].params["seen"]
        assert seen["exists"] == (kind == "bwrap" and os.getuid() == 0), (kind, seen)
        assert "host_pids" not in seen and "cmdlines" not in seen, (kind, seen)  # its cover may be chmod-ed: it is empty


@pytest.mark.slow
def test_a_cell_cannot_carry_rows_in_the_harnesss_output(tmp_path):
    # A cell's descriptors 1 and 2 are the zygote's, which are the harness's own (a log file, pytest's capture file):
    # a cell writes its shadows' rows there, and the next opens /proc/self/fd/2 again, for reading, and finds them
    # (with everything else the harness wrote). cheat-stdio scored AUC 0.794 on target 1 in both sandboxes with the
    # harness's output sent to a file (adversarial review, commit f465945); the next session's target 0 read the
    # previous session's line (0.798).
    _assert_nothing_carried(tmp_path, str(Path(__file__).parent / "cheaters" / "stdio.py"), "cheat-stdio")


def _assert_nothing_carried(tmp_path, cheater, attack, params=lambda kind: {}):
    """Each working sandbox: ``attack`` (from the cheater file ``cheater``) on cheat-pool-blobs gains on no target."""
    for kind in _working_kinds():
        s = make_session(cache_dir=tmp_path / "cache", out_dir=str(tmp_path / kind), plugin_files=[TRACKS, cheater], sandbox=kind, isolation="process")
        rec = run_cell(attack, track="cheat-pool-blobs", session=s, attack_params=params(kind))
        assert rec["status"] == "ok" and rec["isolation"]["private_tmp"] is True, (kind, rec["error"])
        assert len(rec["per_target"]) >= 2 and all(row["auc"] < 0.7 for row in rec["per_target"]), (kind, rec["per_target"])


def test_a_cells_record_says_so_when_any_of_its_targets_ran_without_a_private_tmp(monkeypatch, tmp_path):
    # A cell of the pool design runs the attack once per target, each in a child of its own; the record kept the
    # isolation of the last one only. A run whose scratch folders the kernel refused for an earlier target (the child
    # then runs with private_tmp false: the zygote's /tmp, its /proc, the host's /proc behind a chmod) passed as
    # private, and a verification (bench._agreement) accepted it (adversarial review, commit f465945). Which child is
    # refused need not be chance: the next target's child is set up while this target's runs, and a cell may make
    # network, IPC, UTS and mount namespaces (it holds every capability in its own user namespace); holding them up to
    # the kernel's per-user limit (user.max_*_namespaces, counted for kuid 0 or 65534 host-wide) should make the
    # next child's unshare fail. Not tried: it would fail every root process's on the shared machine meanwhile.
    from bench._session import Session

    flags = iter([False] + [True] * 64)
    real = Session._score

    def score(self, attack, ctx, *args, **kwargs):
        out = real(self, attack, ctx, *args, **kwargs)
        ctx.isolation = {"mode": "process", "sandbox": "bwrap", "sandboxed": True, "private_tmp": next(flags)}
        return out

    monkeypatch.setattr(Session, "_score", score)
    rec = run_cell("loss", track="cheat-pool-blobs", session=make_session(cache_dir=tmp_path / "cache", plugin_files=[TRACKS]))
    assert rec["status"] == "ok" and len(rec["per_target"]) >= 2, rec["error"]
    assert rec["isolation"]["private_tmp"] is False, rec["isolation"]


@pytest.mark.slow
def test_a_sealed_cell_reaches_nothing_of_the_zygotes_and_undoes_no_lock():
    # What held in the adversarial review of commit f465945 (probe-escape): a cell's descriptors are its standard
    # three and its pipe; no mount comes off, no read-only flag clears, the root mount does not clone without what
    # covers it (open_tree), no proc mounts, no namespace is entered through /proc/1/ns, its init is not traced, no
    # new user namespace (its own maps no id) and no uid map is written; no cgroup or kernel setting is writable.
    # (At f465945 it could still make network, IPC, UTS and mount namespaces of its own; bench._seccomp refuses them.)
    import json

    escape = str(Path(__file__).parent / "cheaters" / "escape.py")
    host = os.readlink("/proc/self/ns/mnt")
    for kind in _working_kinds():
        s = make_session(plugin_files=[TRACKS, escape], sandbox=kind, isolation="process")
        rec = run_cell("probe-escape", track="cheat-pool-blobs", session=s, attack_params={"host_mnt": host})
        assert rec["status"] == "failed" and "PROBE-ESCAPE " in rec["error"], (kind, rec["error"])
        seen = json.loads(rec["error"].split("PROBE-ESCAPE ", 1)[1].splitlines()[0])
        # 1 and 2 are pipes of the cell's own (bench._cell_output), no longer the harness's output
        assert seen["fds"].get("1", "").startswith("pipe:") and seen["fds"].get("2", "").startswith("pipe:"), (kind, seen["fds"])
        assert len(seen["fds"]) <= 5 and not any(seen["fds"][fd].startswith("/") for fd in seen["fds"] if fd not in ("0", "1", "2")), (kind, seen["fds"])
        assert not seen["witness"] and seen["root"] == "/", (kind, seen)
        mounts = seen["mounts"]
        assert mounts.keys() >= {"umount_tmp", "clear_ro_root", "open_tree_root", "mount_proc"} and "below_tmp" not in mounts, (kind, mounts)
        assert all(mounts[k] != "ok" for k in ("umount_tmp", "umount_proc", "clear_ro_root", "open_tree_root", "mount_proc")), (kind, mounts)
        assert seen["setns_1_mnt"] != "opened" and seen["ptrace_1"] != "ok" and seen["unshare_user"] != "ok", (kind, seen)
        assert not seen["uid_map"] and seen["cgroup"] is False and not seen["swappiness"], (kind, seen)
