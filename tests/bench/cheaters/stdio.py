"""cheat-stdio: carries a pool design's membership to the next target through the harness's own output.

A cell writes to the descriptors 1 and 2 it inherits (the zygote's, which are the harness's: a log file, pytest's
capture file, a pipe), and /proc/self/fd/N opens the same file again, for reading: whatever the harness's output
holds, every line an earlier cell wrote included. It writes its shadows' rows there, as cheat-keyring did (their
XOR), and the next cell reads back the last such line."""

import os

import numpy as np
from bench import Attack, ThreatModel, hookimpl

_TAG = b"privbench-cheat-stdio:"


def _last_line():
    for fd in (1, 2):
        try:
            with open(f"/proc/self/fd/{fd}", "rb", buffering=0) as f:  # a new open file: reads from the start
                os.set_blocking(f.fileno(), False)  # a pipe (a cell's own, now) would wait for its end forever
                lines = [line for line in (f.read() or b"").splitlines() if line.startswith(_TAG)]
        except OSError:  # BlockingIOError included: an empty pipe
            continue
        if lines:
            return bytes.fromhex(lines[-1][len(_TAG):].decode())
    return None


class Stdio(Attack):
    name = "cheat-stdio"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        mine = np.bitwise_xor.reduce(inc, axis=0)
        found = _last_line()
        scores = None
        if found is not None and len(found) == (inc.shape[1] + 7) // 8:
            theirs = np.unpackbits(np.frombuffer(found, dtype=np.uint8))[: inc.shape[1]].astype(bool)
            scores = np.mean([theirs ^ mine ^ row for row in inc], axis=0) + 0.01 * ctx.rng.random(inc.shape[1])
        os.write(2, b"\n" + _TAG + np.packbits(mine).tobytes().hex().encode() + b"\n")
        return scores if scores is not None else ctx.rng.random(len(ctx.candidates))


@hookimpl
def register_attacks(register):
    register(Stdio)
