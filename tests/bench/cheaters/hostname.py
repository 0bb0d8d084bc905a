"""cheat-hostname-rw: carries a pool design's membership to the next target through the host and domain names.

The cells of a zygote shared its UTS namespace. Under bwrap, a cell of the root harness passes the permission check
on /proc/sys/kernel/hostname once it has cleared the read-only flag on /proc in its own mount namespace. 128 bytes do
not hold all the shadows' rows, so it carries their XOR. The next run XORs that with its own XOR and with each of its
shadows' rows in turn; for the shadow that was the previous target (before targets stopped being shadows), the
result was exactly this target's row. Now it raises when anything reached it: the channel is open."""

import numpy as np
from bench import Attack, ThreatModel, hookimpl


def _helpers():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("privbench_cheaters_for_hostname", Path(__file__).with_name("plugin.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name):
    with open(f"/proc/sys/kernel/{name}") as f:
        return f.read().strip()


def _write(name, text):
    with open(f"/proc/sys/kernel/{name}", "w") as f:
        f.write(text)


class Hostname(Attack):
    name = "cheat-hostname-rw"
    threat_model = ThreatModel.LABEL
    params = {"tag": ""}

    def score(self, ctx):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        clr = (ctypes.c_uint64 * 4)(0, 1, 0, 0)
        libc.syscall(442, -100, b'/proc', 0, clr, ctypes.sizeof(clr))
        h = _helpers()
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        mine = np.bitwise_xor.reduce(inc, axis=0)
        text = _read("hostname") + _read("domainname")
        carried = text.startswith("pb") and len(text) >= 2 + 2 * ((inc.shape[1] + 7) // 8)  # an earlier run's XOR
        payload = "pb" + np.packbits(mine).tobytes().hex()
        _write("hostname", payload[:64])
        _write("domainname", payload[64:] or "-")
        if carried:
            raise RuntimeError("carried over from an earlier run through the host name")
        return h._coin(ctx)


@hookimpl
def register_attacks(register):
    register(Hostname)
Hostname.__module__
