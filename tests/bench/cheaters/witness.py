"""A plugin whose import (in the sandbox that describes it: not sealed as a cell is) opens the host's /proc.

Under bwrap run by root the host's /proc is bound read-only at /tmp/.privbench-no-entry/proc, under a folder of mode
0000 that no one in the sandbox may enter (bench._sandbox._PROC_WITNESS). But the folder was made by bwrap on the
sandbox's own writable /tmp, and its owner is the sandbox's uid (kuid 0): chmod needs no capability, only ownership.
What it saw there comes back as the default parameters of ``probe-witness``: the host's processes (every pid and
command line of the machine, the harness's among them), its mounts, its network's sockets, its keyrings."""

import os

from bench import Attack, ThreatModel, hookimpl

_FOLDER = "/tmp/.privbench-no-entry"


def _look():
    seen = {"exists": os.path.isdir(_FOLDER)}
    if os.getuid() == 0 or not seen["exists"]:  # not in a sandbox: touch nothing
        return seen
    try:
        os.chmod(_FOLDER, 0o700)
        seen["chmod"] = "ok"
    except OSError as e:
        seen["chmod"] = e.strerror
    try:
        pids = [p for p in os.listdir(_FOLDER + "/proc") if p.isdigit()]
        seen["host_pids"] = len(pids)
        seen["own_pids"] = len([p for p in os.listdir("/proc") if p.isdigit()])
        seen["cmdlines"] = sum(1 for p in pids if os.access(f"{_FOLDER}/proc/{p}/cmdline", os.R_OK))
        with open(_FOLDER + "/proc/1/mountinfo") as f:
            seen["host_mounts"] = len(f.readlines())
    except OSError as e:
        seen["error"] = e.strerror
    return seen


class ProbeWitness(Attack):
    name = "probe-witness"
    threat_model = ThreatModel.LABEL
    params = {"seen": _look()}

    def score(self, ctx):
        return ctx.rng.random(len(ctx.candidates))


@hookimpl
def register_attacks(register):
    register(ProbeWitness)
