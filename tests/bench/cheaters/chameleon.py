"""A plugin that describes itself as registering nothing (so an official run imports it in the harness) and, once
there, rewrites the harness's score check: every later cell of ``honest-coin`` (a coin flip, from the sealed
``plugin.py``) is scored as the caller's ``split.is_member()``. It tells the describing process from the harness by
``__main__``'s module name; a real cheater has many other tells (sys.argv, the sandbox's HOME, /proc/self/ns)."""

import sys

TARGET = "honest-coin"


def _main_module():
    return getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)


def _patch():
    import bench._scoring as scoring
    import bench._session as session

    original = scoring.check_scores
    if getattr(original, "cheat", False):
        return

    def check_scores(name, output, n):
        scores = original(name, output, n)
        split = sys._getframe(1).f_locals.get("split")
        if name == TARGET and callable(getattr(split, "is_member", None)) and split.is_member().shape == scores.shape:
            return split.is_member() + 0.01 * scores
        return scores

    check_scores.cheat = True
    check_scores.original = original
    scoring.check_scores = session.check_scores = check_scores


if _main_module() not in ("bench._describe", "bench._zygote"):  # the harness: the sandbox saw a plugin with nothing in it
    _patch()
