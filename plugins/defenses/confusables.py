"""``confusables``: Unicode confusable normalization of prompts before the text encoder (serving-time).

Every non-ASCII character that Unicode's TR39 confusables data (via ``confusable-homoglyphs``) lists
as a look-alike of a Latin character is replaced by that Latin prototype — the TR39 skeleton mapping,
applied only to non-Latin characters so that legitimate ASCII text (e.g. "rn") is left alone. It removes
homoglyph-based bias injection and homoglyph backdoor triggers; images pass through untouched.
"""

from functools import lru_cache

from bench import Defense, Predictor, Task, hookimpl


@lru_cache(maxsize=4096)
def _latin(ch: str) -> str:
    from confusable_homoglyphs import confusables

    if ch.isascii():
        return ch
    found = confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True) or []
    for item in found:
        for h in item.get("homoglyphs", []):
            if h["c"].isascii():
                return h["c"]
    return ch


def normalize(text: str) -> str:
    """The prompt with each non-ASCII look-alike of a Latin character replaced by it."""
    return "".join(_latin(ch) for ch in text)


class _Normalizing(Predictor):
    QUERIES: dict = {}

    def __init__(self, inner: Predictor):
        self._inner = inner

    def __getattr__(self, name):
        method = getattr(self.__dict__["_inner"], name)

        def call(*args, **kwargs):
            fix = lambda v: [normalize(t) for t in v] if isinstance(v, (list, tuple)) and v and all(isinstance(t, str) for t in v) else v
            return method(*(fix(a) for a in args), **{k: fix(v) for k, v in kwargs.items()})

        return call


class Confusables(Defense):
    name = "confusables"
    version = "1"
    tasks = (Task.INTEGRITY, Task.IDENTITY_INFERENCE, Task.IMAGE_TEXT)

    def serve(self, predictor):
        # Same queries (and threat-model levels) as the wrapped predictor.
        cls = type(f"Normalizing{type(predictor).__name__}", (_Normalizing,), {"QUERIES": dict(type(predictor).QUERIES)})
        return cls(predictor)


@hookimpl
def register_defenses(register):
    register(Confusables)
