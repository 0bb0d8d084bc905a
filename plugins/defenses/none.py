"""``none``: the undefended baseline."""

from bench import Defense, Task, hookimpl


class NoDefense(Defense):
    name = "none"
    version = "1"
    tasks = tuple(Task)


@hookimpl
def register_defenses(register):
    register(NoDefense)
