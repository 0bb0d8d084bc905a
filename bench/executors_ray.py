"""The ``ray`` executor: grid cells as Ray tasks on an existing cluster (``pip install 'privbench[ray]'``).

``privbench run --executor ray --ray-address HOST:PORT`` submits one task per cell (``num_gpus=1`` per
task when the cluster has GPUs) and streams each result back, as it finishes, into the same
``results.jsonl``. A task whose worker or node dies is retried elsewhere (``max_retries``); finished
cells are already written. Every node needs privbench (and the plugins the run uses) installed.
Ray is imported only when a run uses this executor.

Without an address the harness starts a local cluster of its own, which listens on loopback only and
keeps its state private: a fresh authentication token and Ray's temporary folder in a ``0700`` folder
of its own (``RAY_AUTH_TOKEN_PATH``, ``_temp_dir``), so whatever an earlier Ray run left in the user's
home (a stale ``~/.ray/auth_token`` failed every later cluster with ``InvalidAuthToken``) is neither
read nor overwritten.
"""

from __future__ import annotations

import os
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
        if ray.is_initialized():
            return ray
        if not self.address and not os.environ.get("RAY_ADDRESS"):
            _start_local_cluster(ray)
            return ray
        kwargs: dict[str, Any] = {"address": self.address, "log_to_driver": False, "include_dashboard": False}
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


def _start_local_cluster(ray: Any) -> None:
    """A local cluster on loopback only, with its own token and temporary folder (nothing read from ``~/.ray``)."""
    import atexit
    import shutil
    import tempfile
    import uuid

    from ray._private import ray_constants

    private = tempfile.mkdtemp(prefix="pbray-", dir="/tmp" if os.path.isdir("/tmp") else None)  # Ray's socket paths: < 107 bytes
    token = os.path.join(private, "auth_token")
    with open(os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(uuid.uuid4().hex)
    os.environ["RAY_AUTH_TOKEN_PATH"] = token  # this driver and every process of the cluster (they inherit it)
    try:  # the token this process loaded before (Ray caches it) is not this cluster's
        from ray._raylet import AuthenticationTokenLoader

        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):  # a Ray without token authentication
        pass
    # Ray's own switch: keep 127.0.0.1 as given (else it substitutes the external interface and listens there).
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False

    def cleanup() -> None:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(private, ignore_errors=True)

    atexit.register(cleanup)
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=os.path.join(private, "ray"))


@hookimpl
def register_executors(register):
    register(RayExecutor)
