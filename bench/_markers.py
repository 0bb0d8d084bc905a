import pluggy

__all__ = ["hookimpl", "hookspec", "PROJECT"]

PROJECT = "privbench"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)
