"""``none``: the undefended baseline."""

from bench import Defense, hookimpl


class NoDefense(Defense):
    name = "none"


@hookimpl
def register_defenses(register):
    register(NoDefense)
