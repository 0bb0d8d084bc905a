import json
import re
import subprocess
import sys
import textwrap
import types

import pytest

from bench import Attack, PluginError, ThreatModel, hookimpl
from bench._plugins import PluginManager, load_plugins

from bench.testing import COINFLIP_PLUGIN as DESIGN_EXAMPLE


def _attack_module(name: str, cls_name: str = "A") -> types.SimpleNamespace:
    cls = type(cls_name, (Attack,), {"name": name, "threat_model": ThreatModel.LABEL, "score": lambda self, ctx: None})

    @hookimpl
    def register_attacks(register):
        register(cls)

    return types.SimpleNamespace(register_attacks=register_attacks)


def test_first_party_plugins_come_through_the_entry_point_group():
    manager, registry = load_plugins()
    for kind, name in [("attacks", "loss"), ("attacks", "lira"), ("defenses", "none"), ("tracks", "digits"), ("executors", "local")]:
        reg = registry.get(kind, name)
        assert reg.plugin.distribution == "privbench", (kind, name)
        assert reg.plugin.source == "entry-point"


def test_throwaway_plugin_registers_an_attack():
    manager, _ = load_plugins(entry_points=False)
    manager.register_module("throwaway", _attack_module("throwaway-attack"))
    registry = manager.registry()
    assert registry.names("attacks") == ["throwaway-attack"]
    assert registry.get("attacks", "throwaway-attack").plugin.name == "throwaway"


def test_plugin_file_that_fails_to_import_is_reported_not_fatal(tmp_path):
    bad = tmp_path / "badplugin.py"
    bad.write_text("import no_such_module_xyz\n")
    with pytest.warns(RuntimeWarning, match=r"badplugin.*failed to import.*no_such_module_xyz"):
        manager, registry = load_plugins([bad])
    assert manager.plugins["badplugin"].broken
    assert "ModuleNotFoundError" in manager.plugins["badplugin"].error
    assert "loss" in registry.names("attacks")  # everything else still loaded


def test_hook_that_raises_marks_the_plugin_broken():
    @hookimpl
    def register_attacks(register):
        raise RuntimeError("boom in hook")

    manager, _ = load_plugins(entry_points=False)
    manager.register_module("raiser", types.SimpleNamespace(register_attacks=register_attacks))
    manager.register_module("fine", _attack_module("fine-attack"))
    with pytest.warns(RuntimeWarning, match=r"raiser.*register_attacks.*boom in hook"):
        registry = manager.registry()
    assert manager.plugins["raiser"].broken
    assert registry.names("attacks") == ["fine-attack"]


def test_registering_a_non_attack_is_reported():
    @hookimpl
    def register_attacks(register):
        register(object)

    manager, _ = load_plugins(entry_points=False)
    manager.register_module("wrongtype", types.SimpleNamespace(register_attacks=register_attacks))
    with pytest.warns(RuntimeWarning, match="not a bench.Attack"):
        manager.registry()
    assert manager.plugins["wrongtype"].broken


def test_duplicate_names_are_an_error_naming_both_plugins():
    manager, _ = load_plugins(entry_points=False)
    manager.register_module("first-plugin", _attack_module("same", "A1"))
    manager.register_module("second-plugin", _attack_module("same", "A2"))
    with pytest.raises(PluginError, match=r"duplicate attack name 'same'.*first-plugin.*second-plugin"):
        manager.registry()


def test_disable_env_blocks_plugins_by_name(monkeypatch):
    monkeypatch.setenv("PRIVBENCH_DISABLE_PLUGINS", "lira, l2")
    manager, registry = load_plugins()
    assert "lira" not in registry.names("attacks") and "lira-offline" not in registry.names("attacks")
    assert "l2" not in registry.names("defenses")
    assert "loss" in registry.names("attacks")


def test_design_example_works_verbatim_as_a_plugin_file(tmp_path):
    f = tmp_path / "coinflip.py"
    f.write_text(DESIGN_EXAMPLE)
    manager, registry = load_plugins([f])
    assert registry.get("attacks", "coinflip").plugin.source == f"file:{f}"
    assert registry.describe("attacks")[[d["name"] for d in registry.describe("attacks")].index("coinflip")]["threat_model"] == "label"


def test_discovery_and_listing_do_not_import_torch(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from click.testing import CliRunner
        from bench.cli import cli
        from bench._plugins import load_plugins
        manager, registry = load_plugins()
        for kind in ("attacks", "defenses", "tracks"):
            registry.describe(kind)
        for args in (["plugins", "--json"], ["list", "attacks", "--json"], ["list", "tracks"]):
            assert CliRunner().invoke(cli, args).exit_code == 0, args
        heavy = [m for m in ("torch", "datasets", "open_clip") if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


def test_list_attacks_json_has_the_contract_fields():
    from click.testing import CliRunner

    from bench.cli import cli

    res = CliRunner().invoke(cli, ["list", "attacks", "--json"])
    items = json.loads(res.output)
    lira = next(i for i in items if i["name"] == "lira")
    assert lira["threat_model"] == "scores" and lira["tasks"] == ["classification"] and lira["plugin"] == "lira"


def test_hooks_are_called_through_pluggy_so_hookwrappers_run_and_a_raising_plugin_stays_its_own_problem():
    calls = []

    @hookimpl(wrapper=True)
    def register_attacks(register):
        calls.append("before")
        result = yield
        calls.append("after")
        return result

    @hookimpl
    def raising(register):
        raise RuntimeError("boom in hook")

    raising.__name__ = "register_attacks"
    manager, _ = load_plugins(entry_points=False)
    manager.register_module("wrapper", types.SimpleNamespace(register_attacks=register_attacks))
    manager.register_module("raiser", types.SimpleNamespace(register_attacks=raising))
    manager.register_module("fine", _attack_module("fine-attack"))
    with pytest.warns(RuntimeWarning, match=r"raiser.*register_attacks.*boom in hook"):
        registry = manager.registry()
    assert calls == ["before", "after"]  # the wrapper saw the whole call, which succeeded for everyone else
    assert manager.plugins["raiser"].broken and not manager.plugins["wrapper"].broken
    assert registry.names("attacks") == ["fine-attack"]


def test_a_raising_hookwrapper_marks_only_its_own_plugin_broken():
    @hookimpl(hookwrapper=True)
    def register_attacks(register):
        raise ValueError("wrapper fell over")
        yield  # pragma: no cover

    manager, _ = load_plugins(entry_points=False)
    manager.register_module("fine", _attack_module("fine-attack"))
    manager.register_module("bad-wrapper", types.SimpleNamespace(register_attacks=register_attacks))
    manager.register_module("also-fine", _attack_module("other-attack"))
    with pytest.warns(RuntimeWarning, match=r"bad-wrapper.*hookwrapper.*wrapper fell over"):
        registry = manager.registry()
    assert manager.plugins["bad-wrapper"].broken
    assert registry.names("attacks") == ["fine-attack", "other-attack"]  # each registered once, despite the retry


def test_a_misspelled_hook_is_a_plugin_problem_suggesting_the_right_name(tmp_path):
    f = tmp_path / "typo.py"
    f.write_text(DESIGN_EXAMPLE.replace("def register_attacks(", "def register_attack("))
    with pytest.warns(RuntimeWarning, match=r"typo.*unknown hook 'register_attack' \(did you mean 'register_attacks'\?\)"):
        manager, registry = load_plugins([f])
    info = manager.plugins["typo"]
    assert not info.broken and "did you mean 'register_attacks'" in info.problems[0]
    assert "coinflip" not in registry.names("attacks")


def test_privbench_plugins_shows_a_misspelled_hook_as_a_problem_of_its_plugin(tmp_path):
    from click.testing import CliRunner

    from bench.cli import cli

    f = tmp_path / "typo.py"
    f.write_text(DESIGN_EXAMPLE.replace("def register_attacks(", "def register_attack("))
    res = CliRunner().invoke(cli, ["plugins", "--plugin", str(f)])
    assert res.exit_code == 0, res.output
    line = next(line for line in res.stdout.splitlines() if line.startswith("typo "))
    assert "PROBLEM: implements unknown hook 'register_attack' (did you mean 'register_attacks'?)" in line


def test_a_hook_without_the_marker_is_a_plugin_problem(tmp_path):
    f = tmp_path / "unmarked.py"
    f.write_text(DESIGN_EXAMPLE.replace("@hookimpl\n", ""))
    with pytest.warns(RuntimeWarning, match=r"unmarked.*register_attacks\(\) without the @bench.hookimpl marker"):
        manager, _ = load_plugins([f])
    assert manager.plugins["unmarked"].problems


def test_duplicate_names_are_reported_by_plugins_and_refused_by_run_and_list(tmp_path):
    from click.testing import CliRunner

    from bench.cli import cli

    files = []
    for stem in ("first", "second"):
        f = tmp_path / f"{stem}.py"
        f.write_text(DESIGN_EXAMPLE)
        files += ["--plugin", str(f)]
    manager, registry = load_plugins(files[1::2], strict=False)
    assert registry.conflicts and "'first'" in registry.conflicts[0] and "'second'" in registry.conflicts[0]
    assert manager.plugins["first"].problems == manager.plugins["second"].problems == registry.conflicts
    assert registry.get("attacks", "coinflip").plugin.name == "first"

    shown = CliRunner().invoke(cli, ["plugins", "--json", *files])
    assert shown.exit_code == 0, shown.output
    by_name = {p["name"]: p for p in json.loads(shown.stdout)}
    assert "duplicate attack name 'coinflip'" in by_name["second"]["problems"][0]
    assert by_name["loss"]["problems"] == []
    table = CliRunner().invoke(cli, ["plugins", *files])
    assert table.exit_code == 0 and "PROBLEM: duplicate attack name 'coinflip'" in table.output
    for args in (["list", "attacks"], ["run", "--attacks", "coinflip", "--out", str(tmp_path / "runs")]):
        refused = CliRunner().invoke(cli, [*args, *files])
        assert refused.exit_code != 0
        assert re.search(r"duplicate attack name 'coinflip'.*'first'.*'second'", refused.output), refused.output


class _Inline:
    name = "inline"

    def __init__(self, **options):
        self.options = options

    def map(self, job, cells):
        return map(job, cells)


def _executor_plugin(plugin: str, *args) -> PluginManager:
    """A manager with one plugin whose register_executors calls ``register(*args)``."""

    @hookimpl
    def register_executors(register):
        register(*args)

    manager, _ = load_plugins(entry_points=False)
    manager.register_module(plugin, types.SimpleNamespace(register_executors=register_executors))
    return manager


def test_executors_register_like_everything_else_by_their_name_attribute():
    assert _executor_plugin("inline-executor", _Inline).registry().get("executors", "inline").obj is _Inline


def test_the_old_executor_registration_still_works_with_a_deprecation_warning():
    manager = _executor_plugin("old-plugin", "old-style", _Inline)
    with pytest.warns(DeprecationWarning, match=r"old-plugin.*register\(name, ExecutorClass\) is deprecated"):
        registry = manager.registry()
    assert registry.get("executors", "old-style").obj is _Inline
    assert "deprecated" in manager.plugins["old-plugin"].problems[0]


def test_an_executor_without_map_is_reported():
    manager = _executor_plugin("nomap-plugin", type("NoMap", (), {"name": "nomap"}))
    with pytest.warns(RuntimeWarning, match=r"nomap-plugin.*no map\(job, cells\) method"):
        registry = manager.registry()
    assert manager.plugins["nomap-plugin"].broken and "nomap" not in registry.names("executors")


def test_loading_only_some_distributions_imports_no_other_plugin():
    # The attack worker's zygote preloads privbench's own plugins only: another distribution's code runs in a cell's
    # child after its sandbox is set up, never in the process every cell is forked from.
    from bench._plugins import load_plugins
    from bench._zygote import FIRST_PARTY

    manager, registry = load_plugins(distributions=FIRST_PARTY)
    assert manager.plugins and {p.distribution for p in manager.plugins.values()} == {"privbench"}
    assert registry.get("attacks", "lira").plugin.distribution == "privbench"
    manager, _ = load_plugins(distributions=["no-such-distribution"])
    assert manager.plugins == {}


def test_loading_only_some_entry_points_by_name():
    # An official run imports in the harness only the entry points known to register no attack (bench._official_plugins).
    manager, registry = load_plugins(names=["loss", "synthetic"])
    assert set(manager.plugins) == {"loss", "synthetic"}
    assert registry.names("attacks") == ["loss"] and "synthetic-blobs" in registry.names("tracks") and registry.names("defenses") == []
