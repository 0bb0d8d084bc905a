"""An official run's registry (bench._official_plugins): a plugin that registers attacks is never imported in the harness."""

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import PluginError
from bench._official_plugins import AttackStub, official_registry
from bench._plan import Cell
from bench._plugins import load_plugins
from bench._runner import Plan, Session
from bench._worker import class_ref
from bench.cli import cli
from bench.testing import make_session

CHEATERS = str(Path(__file__).parent / "cheaters" / "plugin.py")
TRACKS = str(Path(__file__).parent / "cheaters" / "tracks.py")


def _plugin(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


MARKED = """
    import os
    from bench import Attack, ThreatModel, hookimpl
    from plugins.tracks.synthetic import SyntheticBlobs

    os.environ["{marker}"] = "module code ran here"

    class Marked(Attack):
        name = "marked"
        threat_model = ThreatModel.LABEL

        def score(self, ctx):
            return ctx.rng.random(len(ctx.candidates))

    class MarkedBlobs(SyntheticBlobs):
        name = "marked-blobs"

    @hookimpl
    def register_attacks(register):
        register(Marked)

    @hookimpl
    def register_tracks(register):
        register(MarkedBlobs)
"""


def test_an_attack_plugins_module_code_runs_in_the_harness_only_in_an_ordinary_run(tmp_path, monkeypatch):
    marker = f"PRIVBENCH_TEST_MARKER_{os.getpid()}"
    path = _plugin(tmp_path, "marked_official", MARKED.format(marker=marker))
    monkeypatch.delenv(marker, raising=False)
    official = Session(Plan(tracks=["synthetic-blobs"], attacks=["marked"], defenses=["none"], seeds=[0], out_dir=str(tmp_path / "official"), plugin_files=[path],
                            official=True, progress=False))
    assert marker not in os.environ  # described in the sandbox, never imported here
    stub = official.registry.attack("marked")
    assert isinstance(stub, AttackStub) and stub.threat_model == 1
    with pytest.raises(PluginError, match="runs there"):
        stub.score(None)
    ordinary = _plugin(tmp_path, "marked_ordinary", MARKED.format(marker=marker))
    Session(Plan(tracks=["synthetic-blobs"], attacks=["marked"], defenses=["none"], seeds=[0], out_dir=str(tmp_path / "ordinary"), plugin_files=[ordinary], progress=False))
    assert os.environ.get(marker) == "module code ran here"


def test_a_track_of_a_plugin_that_registers_attacks_is_refused_in_an_official_run(tmp_path):
    path = _plugin(tmp_path, "both_kinds", MARKED.format(marker="PRIVBENCH_TEST_UNUSED"))
    plan = Plan(tracks=["marked-blobs"], attacks=["marked"], defenses=["none"], seeds=[0], out_dir=str(tmp_path / "out"), plugin_files=[path], official=True, progress=False)
    with pytest.raises(PluginError, match="plugin 'both_kinds', which also registers attacks.*separate plugin than attacks"):
        Session(plan)
    assert not (tmp_path / "out" / ".official" / "cache" / "models").exists()  # nothing trained
    result = CliRunner().invoke(cli, ["run", "--official", "--track", "marked-blobs", "--attacks", "marked", "--out", str(tmp_path / "cli"),
                                      "--plugin", path, "--no-progress"])
    assert result.exit_code == 2 and "separate plugin than attacks" in result.output, result.output


def test_a_plugin_that_registers_attacks_only_in_the_harness_is_refused(tmp_path, monkeypatch):
    # The sandbox's environment is not the harness's: described there, this plugin registers nothing, so it is imported here.
    # One that registers nothing else there is not imported at all (its module code could rewrite the harness);
    # one that registers a track is imported (trusted, as tracks are) and refused.
    body = """
        import os
        from bench import Attack, hookimpl
        from plugins.tracks.synthetic import SyntheticBlobs

        os.environ["PRIVBENCH_TEST_IMPORTED_" + __name__.rsplit("_", 1)[-1]] = "1"

        class Late(Attack):
            name = "late"

        class LateBlobs(SyntheticBlobs):
            name = "late-blobs"

        @hookimpl
        def register_attacks(register):
            if os.environ.get("PRIVBENCH_TEST_IN_HARNESS"):
                register(Late)
    """
    monkeypatch.setenv("PRIVBENCH_TEST_IN_HARNESS", "1")
    monkeypatch.delenv("PRIVBENCH_TEST_IMPORTED_idle", raising=False)
    _, registry = official_registry([_plugin(tmp_path, "two_faced_idle", body)])
    assert "late" not in registry.names("attacks") and "PRIVBENCH_TEST_IMPORTED_idle" not in os.environ
    tracked = _plugin(tmp_path, "two_faced_track", body + """
        @hookimpl
        def register_tracks(register):
            register(LateBlobs)
    """)
    with pytest.raises(PluginError, match="plugin 'two_faced_track' registered attack.*late in the harness process, but none when it was described"):
        official_registry([tracked])


def test_only_a_plugin_providing_what_the_run_uses_is_imported_in_the_harness(tmp_path, monkeypatch):
    # A submitter's second plugin that registers no attack (event hooks only, or a track the run does not use) would
    # otherwise be imported here, and its module code could rewrite the harness for the attack plugin beside it.
    marker = f"PRIVBENCH_TEST_HOOKS_{os.getpid()}"
    hooks = _plugin(tmp_path, "hooks_only", f"""
        import os
        from bench import hookimpl

        os.environ["{marker}"] = "hooks"

        @hookimpl
        def record_written(record):
            pass
    """)
    track = _plugin(tmp_path, "extra_track", f"""
        import os
        from bench import hookimpl
        from plugins.tracks.synthetic import SyntheticBlobs

        os.environ["{marker}_TRACK"] = "track"

        class Extra(SyntheticBlobs):
            name = "extra-blobs"

        @hookimpl
        def register_tracks(register):
            register(Extra)
    """)
    monkeypatch.delenv(marker, raising=False)
    monkeypatch.delenv(f"{marker}_TRACK", raising=False)
    plan = Plan(tracks=["synthetic-blobs"], attacks=["loss"], defenses=["none"], seeds=[0], out_dir=str(tmp_path / "a"), plugin_files=[hooks, track],
                official=True, progress=False)
    registry = Session(plan).registry
    assert marker not in os.environ and f"{marker}_TRACK" not in os.environ  # neither provides what this run uses
    with pytest.raises(PluginError, match="unknown track 'extra-blobs'"):
        registry.get("tracks", "extra-blobs")
    plan = Plan(**{**plan.as_dict(), "tracks": ["extra-blobs"], "out_dir": str(tmp_path / "b")})
    assert Session(plan).registry.get("tracks", "extra-blobs") and os.environ.get(f"{marker}_TRACK") == "track"
    assert marker not in os.environ  # still never imported: it provides nothing any run uses


def test_identity_and_run_id_are_the_same_with_the_described_attacks(tmp_path):
    real = load_plugins([TRACKS, CHEATERS])[1]
    _, official = official_registry([TRACKS, CHEATERS])
    assert isinstance(official.attack("honest-coin"), AttackStub) and not isinstance(official.attack("loss"), AttackStub)
    assert official.get("tracks", "cheat-pool-blobs").plugin.name == "tracks"  # a plugin without attacks: imported here
    sessions = [make_session(registry=r, cache_dir=tmp_path / "cache", out_dir=str(tmp_path / "out")) for r in (real, official)]
    for attack, params in (("loss", {}), ("honest-coin", {}), ("probe-sandbox", {"port": 7})):
        for track in ("synthetic-blobs", "cheat-pool-blobs"):
            cell = Cell(track=track, defense="none", attack=attack, seed=0, budget="smoke", attack_params=params)
            a, b = (s.identity(cell) for s in sessions)
            assert a == b and "error" not in a["attack"], (attack, a, b)
            assert sessions[0].run_id(cell) == sessions[1].run_id(cell)
    stub, actual = official.attack("probe-sandbox", port=7), real.attack("probe-sandbox", port=7)
    ref = class_ref(stub, stub.name, stub.params)
    assert ref == {**class_ref(actual, actual.name, actual.params), "params": {"port": 7}}  # the real class, its own defaults
    assert official.get("attacks", "honest-coin").plugin.source == real.get("attacks", "honest-coin").plugin.source


@pytest.mark.slow
def test_an_official_cli_run_never_builds_the_attack_in_the_harness(tmp_path):
    # `privbench run --official` builds its registry before anything else imports the plugins: cheat-init's __init__
    # (which wraps the harness's score check) runs only in the worker, and scores like the coin flip it is.
    import json

    import bench._scoring
    import bench._session

    original = bench._scoring.check_scores
    try:
        result = CliRunner().invoke(cli, ["run", "--official", "--track", "cheat-pool-blobs", "--attacks", "cheat-init,honest-coin", "--out",
                                          str(tmp_path / "out"), "--plugin", TRACKS, "--plugin", CHEATERS, "--no-progress"])
    finally:
        patched = bench._scoring.check_scores is not original or bench._session.check_scores is not original
        bench._scoring.check_scores = bench._session.check_scores = original
    assert result.exit_code == 0, result.output
    assert not patched
    records = {r["attack"]["name"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    for name in ("cheat-init", "honest-coin"):
        rec = records[name]
        assert rec["status"] == "ok" and rec["official"] is True and rec["attack"]["plugin"] == "plugin", rec["error"]
        assert rec["metrics"]["auc"] < 0.65, (name, rec["metrics"]["auc"])


CHAMELEON = str(Path(__file__).parent / "cheaters" / "chameleon.py")


@pytest.mark.slow
def test_a_plugin_that_describes_itself_as_empty_cannot_rewrite_the_harness(tmp_path):
    import bench._scoring
    import bench._session
    from bench._runner import run_plan

    plan = Plan(tracks=["cheat-pool-blobs"], attacks=["honest-coin"], defenses=["none"], seeds=[0], budget="smoke",
                out_dir=str(tmp_path / "out"), plugin_files=[TRACKS, CHEATERS, CHAMELEON], official=True, progress=False, scenarios=False)
    original = bench._scoring.check_scores
    try:
        (rec,) = run_plan(plan)
    finally:  # the cheat would stay in this process otherwise
        patched = bench._scoring.check_scores is not original or bench._session.check_scores is not original
        bench._scoring.check_scores = bench._session.check_scores = original
    assert rec["status"] == "ok" and rec["official"] is True, rec["error"]
    assert not patched  # before the fix (bench._official_plugins._sealed): patched, and AUC 1.000 (bwrap, private_tmp true)
    assert rec["metrics"]["auc"] < 0.65, rec["metrics"]["auc"]


def test_every_plugin_of_a_distribution_that_registers_attacks_is_sealed():
    # A package could ship a second entry point beside its attack that describes itself as a track plugin (imported
    # in the harness); the harness seals every plugin of a distribution that registers attacks, and one that
    # registers nothing the harness needs.
    from bench._describe import PluginDescription
    from bench._official_plugins import _sealed
    from bench._registry import PluginInfo

    def desc(name, **kinds):
        return PluginDescription(name, {k: list(kinds.get(k, [])) for k in ("attacks", "defenses", "tracks", "executors")})

    described = {"atk": desc("atk", attacks=["a"]), "helper": desc("helper", tracks=["t"]), "other": desc("other", tracks=["u"]),
                 "idle": desc("idle"), "file": desc("file", defenses=["d"])}
    infos = {"atk": PluginInfo("atk", "cheat-dist", "1"), "helper": PluginInfo("helper", "cheat-dist", "1"),
             "other": PluginInfo("other", "tracks-dist", "1"), "idle": PluginInfo("idle", "idle-dist", "1"),
             "file": PluginInfo("file", None, None, source="file:/x/file.py")}
    assert _sealed(described, infos) == {"atk", "helper", "idle"}


def test_an_entry_point_named_like_a_first_party_one_is_never_imported_in_the_harness(tmp_path, monkeypatch):
    # Before the fix (bench._official_plugins._refuse_shared_names) this module ran in the harness: 'lira' was loaded
    # by name with privbench's own entry points, whichever distribution was found first.
    marker = f"PRIVBENCH_TEST_COLLIDE_{os.getpid()}"
    (tmp_path / "collide_cheat.py").write_text(f"import os\nos.environ[{marker!r}] = 'imported in ' + str(os.getpid())\n")
    info = tmp_path / "collide_cheat-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: collide-cheat\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[privbench]\nlira = collide_cheat\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # found first: entry_points() lists its 'lira' before privbench's
    monkeypatch.delenv(marker, raising=False)
    with pytest.raises(PluginError, match="entry point 'lira' is declared by several distributions \\(collide-cheat, privbench\\)"):
        official_registry([])
    assert os.environ.get(marker) is None
