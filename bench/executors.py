"""Executors run grid cells. ``local`` is built in and registered through the entry-point group like any plugin."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator

from ._markers import hookimpl

__all__ = ["Executor", "LocalExecutor", "local_slots"]


class Executor:
    """Runs ``job(cell)`` for each cell and yields the results as they finish (any order)."""

    name = ""

    def __init__(self, **options: Any):
        self.options = options

    def map(self, job: Callable[[Any], Any], cells: Iterable[Any]) -> Iterator[Any]:  # pragma: no cover
        raise NotImplementedError


def local_slots(device: str | None = None, slots: int | None = None) -> list[str | None]:
    """Device slots of this machine: one per GPU (``cuda:i``) when the run uses CUDA, else ``slots`` CPU slots (default 1).

    ``None`` means "the job's own device" (the sequential, in-process case).
    """
    if device is None or str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available() and (device in (None, "cuda")):
            n = torch.cuda.device_count()
            slots = n if slots is None else slots
            return [f"cuda:{i % n}" for i in range(slots)] if slots > 1 else [None]
    slots = 1 if slots is None else slots
    return ["cpu" if device is None else device] * slots if slots > 1 else [None]


class LocalExecutor(Executor):
    """This machine: a bounded pool with one job per device slot (one per GPU; ``slots`` CPU workers on request).

    With one slot (the default without several GPUs) cells run in-process and in order, so cells of a
    (track, defense, seed) group share its target in memory. With several, each slot is a worker
    process pinned to its device; cells stream back as they finish, and the model cache's locks make
    concurrent workers train each model once.
    """

    name = "local"

    def __init__(self, slots: int | None = None, **options: Any):
        super().__init__(**options)
        self.slots = None if slots is None else max(1, int(slots))

    def map(self, job: Callable[[Any], Any], cells: Iterable[Any]) -> Iterator[Any]:
        cells = list(cells)
        plan = getattr(job, "plan", None)
        devices = local_slots(getattr(plan, "device", None), self.slots) if cells else [None]
        if len(devices) <= 1 or len(cells) <= 1:
            for cell in cells:
                yield job(cell)
            return
        yield from self._pool(job, cells, devices)

    def _pool(self, job: Callable[[Any], Any], cells: list[Any], devices: list[str | None]) -> Iterator[Any]:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = mp.get_context("spawn")  # no forked torch/CUDA state
        queue = ctx.Queue()
        for d in devices:
            queue.put(d)
        with ProcessPoolExecutor(max_workers=len(devices), mp_context=ctx, initializer=_claim_slot, initargs=(queue,)) as pool:
            pending = {pool.submit(_run_in_slot, job, cell) for cell in cells}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()


_SLOT: str | None = None
_JOBS: dict[str, Any] = {}


def _claim_slot(queue: Any) -> None:
    global _SLOT
    _SLOT = queue.get()
    from ._threads import pin_cpu_threads

    pin_cpu_threads()  # before the slot's first job loads torch (its Session pins them too)


def worker_job(job: Any, device: str | None) -> Any:
    """The job a worker process runs, made once per plan so its Session (data, targets) serves many cells."""
    plan = getattr(job, "plan", None)
    key = json.dumps(plan.as_dict(), sort_keys=True, default=str) if plan is not None else str(id(job))
    if key not in _JOBS:
        _JOBS[key] = job.on_device(device) if hasattr(job, "on_device") else job
    return _JOBS[key]


def _run_in_slot(job: Any, cell: Any) -> Any:
    """Run a cell in a pool worker on its slot's device."""
    return worker_job(job, _SLOT)(cell)


@hookimpl
def register_executors(register):
    register(LocalExecutor)
