"""bench/_registry.py: lookups name what is known; conflicts name both plugins and keep the first registration."""

import pytest

from bench import Attack, PluginError, ThreatModel
from bench._registry import PluginInfo, Registry


class _Label(Attack):
    name = "label-attack"
    threat_model = ThreatModel.LABEL


def test_unknown_names_are_refused_with_the_known_ones():
    reg = Registry()
    reg.add("attacks", "label-attack", _Label, PluginInfo("p"))
    with pytest.raises(PluginError, match=r"unknown attack 'nope'; known attacks: label-attack"):
        reg.get("attacks", "nope")
    (described,) = reg.describe("attacks")
    assert described["name"] == "label-attack" and described["plugin"] == "p" and described["threat_model"] == "label"


def test_a_conflict_keeps_the_first_registration_and_check_refuses_it():
    first, second = PluginInfo("first", "dist-a"), PluginInfo("second", "dist-b")
    reg = Registry()
    reg.add("attacks", "label-attack", _Label, first)
    reg.check()  # no conflict yet
    reg.add("attacks", "label-attack", type("Other", (_Label,), {}), second)
    assert reg.get("attacks", "label-attack").plugin is first
    assert first.registers["attacks"] == second.registers["attacks"] == ["label-attack"]
    assert first.problems == second.problems == reg.conflicts and len(reg.conflicts) == 1
    with pytest.raises(PluginError, match=r"duplicate attack name 'label-attack'.*'first' \(dist-a\).*'second' \(dist-b\)"):
        reg.check()


def test_a_registration_without_a_name_is_refused():
    with pytest.raises(PluginError, match="without a name"):
        Registry().add("attacks", "", _Label, PluginInfo("p"))
