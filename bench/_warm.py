"""What torch initialises on first use, paid once in the attack workers' zygote (``bench._zygote``), not in every cell."""

from __future__ import annotations

from typing import Any

__all__ = ["warm_torch", "check_cuda"]


def warm_torch() -> None:
    """Pay here, once, for what torch initialises on first use, so that no child pays it again: the first
    ``vmap(grad(...))`` alone took 3.3 s, and a white-box attack's cell forks once per target and scenario run.

    Not on a machine with a GPU: autograd's first backward initialises every device runtime (CUDA's too), and a
    child forked after that cannot use CUDA ("initialization error", seen on an H100)."""
    from ._sandbox import _gpu_devices

    if any(d.startswith("/dev/nvidia") for d in _gpu_devices()):
        return
    try:
        import torch
        from torch.func import functional_call, grad, vmap
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # no OpenMP thread pool in the zygote: its children fork from a single thread
    try:
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        x, y = torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long)
        params = dict(net.named_parameters())

        def loss(p: Any, xb: Any, yb: Any) -> Any:
            return torch.nn.functional.cross_entropy(functional_call(net, p, (xb[None],)), yb[None])

        vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
        for opt in (torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9), torch.optim.Adam(net.parameters())):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)


def check_cuda(device: str) -> None:
    """In a cell's child, before the attack runs: say plainly when the cell's CUDA device is unusable here, instead
    of letting the attack's first tensor raise a bare CUDA error that reads as the attack's fault."""
    if not str(device).startswith("cuda"):
        return
    import torch

    try:
        torch.cuda.init()
    except Exception as exc:  # noqa: BLE001 - any CUDA failure gets the same explanation
        raise RuntimeError(
            f"the attack worker cannot use {device} on this machine ({type(exc).__name__}: {exc}). Sandboxed workers"
            " on GPUs are an open problem (seen on an H100 and an H200: CUDA error 304 in a sandboxed cell); run with"
            " --isolation thread for an unofficial GPU run, or --device cpu"
        ) from exc
