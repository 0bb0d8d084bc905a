"""``none``: the undefended baseline."""

from bench import Defense, Task, hookimpl


class NoDefense(Defense):
    name = "none"
    tasks = tuple(Task)


@hookimpl
def register_defenses(register):
    register(NoDefense)
