"""bench/_markers.py: bench.hookimpl marks implementations that pluggy recognizes for project "privbench"."""

import types

import pluggy

from bench import hookimpl
from bench._markers import PROJECT


def test_hookimpl_marks_for_the_privbench_project_only():
    @hookimpl(tryfirst=True)
    def register_attacks(register):
        pass

    module = types.SimpleNamespace(register_attacks=register_attacks)
    assert pluggy.PluginManager(PROJECT).parse_hookimpl_opts(module, "register_attacks")["tryfirst"] is True
    assert pluggy.PluginManager("another-project").parse_hookimpl_opts(module, "register_attacks") is None
