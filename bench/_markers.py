"""The pluggy markers of project ``privbench``: plugins use ``bench.hookimpl``, ``bench/hookspecs.py`` uses ``hookspec``."""

import pluggy

__all__ = ["hookimpl", "hookspec", "PROJECT"]

PROJECT = "privbench"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)
