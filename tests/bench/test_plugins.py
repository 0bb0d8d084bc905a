import json
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
