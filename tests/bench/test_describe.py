"""Describing a plugin in the sandbox (bench._describe): what it registers comes back as checked data, whatever it prints."""

import json
import os
import textwrap

import pytest

from bench import PluginError, Task, ThreatModel
from bench._describe import MAX_DESCRIPTION, _checked, describe_plugins


def _plugin(tmp_path, name, *bodies):
    path = tmp_path / f"{name}.py"
    path.write_text("".join(textwrap.dedent(b) for b in bodies))
    return str(path)


ATTACK = """
    import bench
    from bench import Attack, Task, ThreatModel, hookimpl

    class Noisy(Attack):
        name = "noisy"
        threat_model = ThreatModel.LABEL
        tasks = (Task.CLASSIFICATION, Task.GENERATION)
        params = {"k": (1, 2), "alpha": 0.5}
        version = "3"

        def supports(self, task):  # overridden: the description says what it accepts, not what `tasks` lists
            return Task(task) is Task.CLASSIFICATION

        def score(self, ctx):
            return ctx.rng.random(len(ctx.candidates))

    @hookimpl
    def register_attacks(register):
        register(Noisy)
"""


def _describe(path, **kw):
    name = os.path.basename(path)[:-3]
    return describe_plugins([(name, repr(name), "file", path)], **kw)[name]


def test_a_plugin_is_described_from_its_own_process_whatever_it_prints(tmp_path):
    fake = json.dumps({"plugin": {"name": "liar", "registers": {"attacks": [], "defenses": [], "tracks": [], "executors": []},
                                  "error": None, "problems": []}, "attacks": []})
    path = _plugin(tmp_path, "liar", f"""
        import sys
        print({fake!r})  # a description on stdout is not the description
        sys.stdout.write("x" * (3 << 20))
        sys.stderr.write("garbage\\n")
    """, ATTACK)
    d = _describe(path)
    assert d.name == "liar" and d.error is None and d.registers["attacks"] == ["noisy"]
    (a,) = d.attacks
    assert (a.name, a.threat_model, a.tasks, a.version) == ("noisy", ThreatModel.LABEL, (Task.CLASSIFICATION,), "3")
    assert a.params == {"k": [1, 2], "alpha": 0.5}  # JSON, as run ids hash them
    assert (a.module, a.qualname, a.file) == ("privbench_plugin_liar", "Noisy", path)


def test_a_broken_plugin_is_described_as_broken(tmp_path):
    d = _describe(_plugin(tmp_path, "broken_import", "raise RuntimeError('no config here')\n"))
    assert d.error == "RuntimeError: no config here" and d.attacks == []


@pytest.mark.parametrize("body, why", [
    ("import os\nos._exit(3)\n", "exit status 3"),
    ("import os, sys\nos.write(int(sys.argv[1]), b'{not json')\nos._exit(0)\n", "does not fit"),
    (f"import os, sys\nos.write(int(sys.argv[1]), b' ' * {MAX_DESCRIPTION + 10})\n", "over"),
    ("import time\ntime.sleep(60)\n", "did not finish within 3 s"),
])
def test_a_description_that_fails_names_the_plugin(tmp_path, body, why):
    path = _plugin(tmp_path, "bad_plugin", body)
    with pytest.raises(PluginError, match="describing plugin 'bad_plugin' in the sandbox failed") as err:
        _describe(path, timeout=3)
    assert why in str(err.value)


def _raw(**over):
    plugin = {"name": "p", "registers": {"attacks": ["a"], "defenses": [], "tracks": [], "executors": []}, "error": None, "problems": []}
    attack = {"name": "a", "threat_model": 2, "tasks": ["classification"], "params": {}, "version": "1", "module": "m", "qualname": "A",
              "file": None, "error": None}
    plugin.update(over.pop("plugin", {}))
    attack.update(over.pop("attack", {}))
    return {"plugin": plugin, "attacks": [attack], **over}


@pytest.mark.parametrize("raw, why", [
    (_raw(plugin={"name": "other"}), "does not describe plugin 'p'"),
    (_raw(plugin={"registers": {"attacks": ["../a"], "defenses": [], "tracks": [], "executors": []}}), "bad attacks names"),
    (_raw(plugin={"registers": {"attacks": ["a", "b"], "defenses": [], "tracks": [], "executors": []}}), "disagree"),
    (_raw(attack={"threat_model": 99}), "bad threat_model"),
    (_raw(attack={"threat_model": "2"}), "bad threat_model"),
    (_raw(attack={"tasks": ["cooking"]}), "not a valid Task"),
    (_raw(attack={"file": "relative.py"}), "bad file"),
    (_raw(attack={"params": [1]}), "params is not an object"),
    (_raw(extra=1), "not an object with"),
])
def test_a_description_is_checked_field_by_field(raw, why):
    with pytest.raises((ValueError, TypeError, KeyError), match=why):
        _checked(raw, "p")
    assert _checked(_raw(), "p").attacks[0].threat_model == ThreatModel(2)
