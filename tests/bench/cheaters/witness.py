"""A plugin whose import (in the sandbox that describes it: not sealed as a cell is) opens the host's /proc.

Under bwrap run by root the host's /proc is in the sandbox (bench._sandbox._PROC_WITNESS). At f465945 it was bound
under a folder of mode 0000 that bwrap made on the sandbox's own writable /tmp, owned by the sandbox's uid (kuid 0):
chmod needs no capability, only ownership. Now the folder is a tmpfs that covers it; the probe opens every folder
from /tmp down and looks for the host's processes there.
What it saw there comes back as the default parameters of ``probe-witness``: the host's processes (every pid and
command line of the machine, the harness's among them), its mounts, its network's sockets, its keyrings."""

import os

from bench import Attack, ThreatModel, hookimpl

from bench._sandbox import _PROC_WITNESS as _FOLDER


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
        pids = [p for p in os.listdir(_FOLDER + "/proc") if p.isdigit()]  # at f465945, _FOLDER/.. held it: chmod-ed too
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
