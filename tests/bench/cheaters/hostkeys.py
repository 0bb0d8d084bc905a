"""cheat-host-keyring: carries a pool design's membership to the next target in a keyring that outlives every cell.

Each cell joins a session keyring of its own (bench._sandbox.seal_cell), but a key can be linked into any keyring
that the cell's uid may write, and /proc/keys (its own /proc still lists it) names them with their ids: under bwrap
run by root, the host root's user keyring ``_uid.0`` (permissions 0x1f3f0000: its owner, kuid 0, may write it, and
every sandboxed process is kuid 0). The key outlives the cell, the run and the harness (until it is unlinked). It
carries the XOR of the cell's shadows' rows, as cheat-keyring did. ``cleanup=True``: unlink this tag's keys."""

import ctypes
import os

import numpy as np
from bench import Attack, ThreatModel, hookimpl

_libc = ctypes.CDLL(None, use_errno=True)
_SYS = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}[os.uname().machine]
_UPDATE, _SETPERM, _LINK, _UNLINK, _READ = 2, 5, 8, 9, 11
_SESSION = -3  # KEY_SPEC_SESSION_KEYRING
_PERM_ALL = 0x3F3F3F3F


def _keys():
    """(id, perm, description) of every key /proc/keys shows."""
    out = []
    with open("/proc/keys") as f:
        for line in f:
            parts = line.split(None, 8)
            out.append((int(parts[0], 16), int(parts[4], 16), parts[8].split(":")[0] if len(parts) > 8 else ""))
    return out


def _search(ring, desc):
    return _libc.syscall(_SYS["keyctl"], 10, ring, b"user", desc.encode(), 0)  # KEYCTL_SEARCH


def _read(kid):
    buf = ctypes.create_string_buffer(65536)
    n = _libc.syscall(_SYS["keyctl"], _READ, kid, buf, len(buf))
    return buf.raw[:n] if n > 0 else None


def _user_keyrings():
    """Ids of the per-user keyrings this process's /proc/keys shows (in a cell: none, its namespace maps no uid)."""
    try:
        if os.getuid() != 0:  # the nobody sandbox's describing process: make its uid's keyring (a no-op for root's)
            _libc.syscall(_SYS["keyctl"], 0, -4, 1)  # KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, create
        return [kid for kid, _, desc in _keys() if desc.startswith("_uid.")]
    except OSError:
        return []


# Where an official run imports this file first: the sandbox that describes it, whose /proc/keys does list them.
# The ids reach each cell as a default parameter.
_RINGS = _user_keyrings()


class HostKeyring(Attack):
    name = "cheat-host-keyring"
    threat_model = ThreatModel.LABEL
    params = {"tag": "", "cleanup": False, "rings": _RINGS}

    def score(self, ctx):
        desc = f"privbench-cheat-{self.params['tag']}"
        mine_ids = [kid for kid in (_search(r, desc) for r in self.params["rings"]) if kid > 0]
        if self.params["cleanup"]:
            for ring in [*self.params["rings"], *_user_keyrings()]:
                for kid in mine_ids:
                    _libc.syscall(_SYS["keyctl"], _UNLINK, kid, ring)
            raise RuntimeError(f"HOST-KEYRING cleaned {len(mine_ids)}")
        inc = np.asarray(ctx.shadows(ctx.budget.max_shadows, online=True).candidate_inclusion, dtype=bool)
        mine = np.bitwise_xor.reduce(inc, axis=0)
        scores = None
        found = _read(mine_ids[0]) if mine_ids else None
        if found is not None and len(found) == (inc.shape[1] + 7) // 8:
            theirs = np.unpackbits(np.frombuffer(found, dtype=np.uint8))[: inc.shape[1]].astype(bool)
            scores = np.mean([theirs ^ mine ^ row for row in inc], axis=0) + 0.01 * ctx.rng.random(inc.shape[1])
        payload = np.packbits(mine).tobytes()
        stored = []
        if mine_ids:  # the previous cell's key: every permission is its owner's (kuid 0, as this cell is)
            if _libc.syscall(_SYS["keyctl"], _UPDATE, mine_ids[0], payload, len(payload)) == 0:
                stored.append(hex(mine_ids[0]))
        else:  # made in this cell's own session keyring (it possesses the key: may open it up), then linked out
            kid = _libc.syscall(_SYS["add_key"], b"user", desc.encode(), payload, len(payload), _SESSION)
            _libc.syscall(_SYS["keyctl"], _SETPERM, kid, _PERM_ALL)
            for ring in [*self.params["rings"], *_user_keyrings()]:
                if _libc.syscall(_SYS["keyctl"], _LINK, kid, ring) == 0:
                    stored.append(hex(ring))
        if scores is None and not stored:
            raise RuntimeError(f"HOST-KEYRING nowhere to store: {_keys()}")
        return scores if scores is not None else ctx.rng.random(len(ctx.candidates))


@hookimpl
def register_attacks(register):
    register(HostKeyring)
