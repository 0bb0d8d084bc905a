"""The ``ray`` executor: grid cells as Ray tasks on an existing cluster (``pip install 'privbench[ray]'``).

``privbench run --executor ray --ray-address HOST:PORT`` submits one task per cell (``num_gpus=1`` per
task when the cluster has GPUs) and streams each result back, as it finishes, into the same
``results.jsonl``. A task whose worker or node dies is retried elsewhere (``max_retries``); finished
cells are already written. Every node needs privbench (and the plugins the run uses) installed.
Ray is imported only when a run uses this executor.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ._markers import hookimpl
from .executors import Executor, worker_job

__all__ = ["RayExecutor"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _run_cell_task(job: Any, cell: Any) -> Any:
    # Ray reuses worker processes: the job (and its Session) is built once per worker and plan.
    return worker_job(job, None)(cell)


class RayExecutor(Executor):
    """Options: ``address`` (``HOST:PORT`` of the cluster's head; None: ``$RAY_ADDRESS`` or a local instance),
    ``num_gpus`` per task (default 1 when the cluster has GPUs, else 0), ``num_cpus`` per task (1),
    ``max_retries`` on worker or node failure (3)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_gpus: float | None = None, num_cpus: float = 1, max_retries: int = 3, **options: Any):
        super().__init__(**options)
        self.address = address
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus
        self.max_retries = int(max_retries)

    def _init(self) -> Any:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'privbench[ray]'") from None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": self.address, "log_to_driver": False, "include_dashboard": False} if self.address else {"include_dashboard": False}
            host = (self.address or "").rsplit(":", 1)[0]
            if host in _LOOPBACK:
                # A loopback cluster: keep the driver on loopback too (Ray would pick the external interface).
                kwargs["_node_ip_address"] = "127.0.0.1"
            ray.init(**kwargs)
        return ray

    def map(self, job: Callable[[Any], Any], cells: Iterable[Any]) -> Iterator[Any]:
        cells = list(cells)
        if not cells:
            return
        ray = self._init()
        gpus = self.num_gpus
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(_run_cell_task).options(num_cpus=self.num_cpus, num_gpus=gpus, max_retries=self.max_retries, retry_exceptions=False)
        job_ref = ray.put(job)
        pending = {task.remote(job_ref, cell): cell for cell in cells}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries exhausted: record it, the grid goes on
                    if not hasattr(job, "failed"):
                        raise
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    yield job.failed(cell, f"ray task failed after {self.max_retries} retries: {type(exc).__name__}: {first}"), None


@hookimpl
def register_executors(register):
    register(RayExecutor)
