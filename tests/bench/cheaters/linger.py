"""An attack that outlives its cell: it sends its own result (the harness records the cell) and keeps running,
burning a core while the next cells run. ``escape``: first leaves the cell's process group and clears the signal
that its parent's death sends (what a determined one would do against a kill of the process group)."""

import ctypes
import sys
import time

from bench import Attack, ThreatModel, hookimpl

NAME = b"pb-linger"  # its process name, found by ps


class Linger(Attack):
    name = "cheat-linger"
    threat_model = ThreatModel.LABEL
    params = {"escape": False, "seconds": 60.0}

    def score(self, ctx):
        import os

        from bench._proxy import encode

        scores = ctx.rng.random(len(ctx.candidates))
        frame = sys._getframe(1)
        while frame is not None and "conn" not in frame.f_locals:
            frame = frame.f_back
        libc = ctypes.CDLL(None)
        if self.params["escape"]:
            libc.prctl(1, 0)  # PR_SET_PDEATHSIG: none
            os.setsid()
        libc.prctl(15, NAME)  # PR_SET_NAME
        frame.f_locals["conn"].send_bytes(encode({"op": "done", "output": scores, "threshold": None, "exports": {}}))
        end = time.time() + float(self.params["seconds"])
        while time.time() < end:
            pass
        return scores


@hookimpl
def register_attacks(register):
    register(Linger)
