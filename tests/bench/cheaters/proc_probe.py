"""A test plugin, not a cheater: an attack that names a thread in the cell's /proc as the CUDA driver does."""

import os, threading
from bench import Attack, ThreatModel, hookimpl

def _name(path):
    with open(path, "w") as f:
        f.write("probe")

class ProcProbe(Attack):
    name = "proc-probe"
    threat_model = ThreatModel.LABEL
    params = {"own_tids": True}

    def score(self, ctx):
        _name("/proc/self/comm")  # raises on a read-only /proc
        if self.params["own_tids"]:  # a thread's own tid names it, as the CUDA driver assumes
            errors = []
            def run():
                try:
                    _name(f"/proc/self/task/{threading.get_native_id()}/comm")
                except OSError as exc:
                    errors.append(exc)
            t = threading.Thread(target=run)
            t.start()
            t.join()
            if errors:
                raise errors[0]
        return ctx.rng.random(len(ctx.candidates))

@hookimpl
def register_attacks(register):
    register(ProcProbe)
