"""Executors run grid cells. ``local`` is built in and registered through the entry-point group like any plugin."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ._markers import hookimpl

__all__ = ["Executor", "LocalExecutor"]


class Executor:
    """Runs ``job(cell)`` for each cell and yields the results as they finish (any order)."""

    name = ""

    def __init__(self, **options: Any):
        self.options = options

    def map(self, job: Callable[[Any], Any], cells: Iterable[Any]) -> Iterator[Any]:  # pragma: no cover
        raise NotImplementedError


class LocalExecutor(Executor):
    """In-process and sequential: one device, cells of a (track, defense, seed) group share its target."""

    name = "local"

    def map(self, job: Callable[[Any], Any], cells: Iterable[Any]) -> Iterator[Any]:
        for cell in cells:
            yield job(cell)


@hookimpl
def register_executors(register):
    register("local", LocalExecutor)
