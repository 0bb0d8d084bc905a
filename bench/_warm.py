"""What torch initialises on first use, paid once in the attack workers' zygote (``bench._zygote``), not in every cell."""

from __future__ import annotations

from typing import Any

__all__ = ["warm_torch"]


def warm_torch() -> None:
    """Pay here, once, for what torch initialises on first use, so that no child pays it again: the first
    ``vmap(grad(...))`` alone took 3.3 s, and a white-box attack's cell forks once per target and scenario run."""
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
