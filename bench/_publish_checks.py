"""The checks of a submitted record that need no scores: names, run id, budget, provenance, plugins.

Each function returns the problems it finds as messages (empty: nothing wrong). :mod:`bench.publish` runs them
and then recomputes the metrics from the scores itself.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from ._record import Record, finite_number
from ._submission import check_name

__all__ = ["name_problems", "run_id_problems", "commit_problems", "budget_problems", "provenance_problems", "plugin_problems", "non_finite",
           "link_problems", "utility_problems", "with_threat_model", "REQUIRED_PROVENANCE", "PoolTruth"]

REQUIRED_PROVENANCE = ("privbench_version", "python", "torch", "device")
MAX_OVERRIDE_SETS = 1 << 16
_VERSION = re.compile(r"^\d+(\.\d+)*([.+-]?[A-Za-z0-9.+-]*)?$")
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def name_problems(rec: Record) -> list[str]:
    """Track, tier, defense and attack names that could leave the leaderboard root (``../x``, ``a/b``)."""
    out = []
    for what, value in (("track", rec.track.name), ("budget tier", rec.budget.tier), ("defense", rec.defense.name),
                        ("attack", rec.attack.name)):
        try:
            check_name(what, value)
        except ValueError as exc:
            out.append(str(exc))
    return out


def run_id_problems(rec: Record, track_version: str, split_sha256: str, allowance: list[int] | None = None) -> list[str]:
    """The run id must be the hash of this cell's spec, for some set of ``--set`` overrides among its resolved params.

    A record that states its identity is one hash. Older ones keep only the resolved params (defaults included), so
    the subsets of those are tried, smallest first, at most ``MAX_OVERRIDE_SETS``, or what is left of ``allowance``
    (``[n]``, shared by the cells of one file and spent here: a file of cells each found at the 65,536th set cost a
    build hours)."""
    from ._plan import Cell, run_id

    if rec.identity is not None:  # records that state their identity: one hash, and the identity must be the record's
        ident = rec.identity
        out = []
        for side, ref in (("attack", rec.attack), ("defense", rec.defense)):
            got = ident.get(side) or {}
            if got.get("params") != dict(ref.params) or got.get("version") != ref.version:
                out.append(f"run identity's {side} params/version differ from the record's {side} ({ref.name!r})")
        cell = Cell(rec.track.name, rec.defense.name, rec.attack.name, int(rec.seed), rec.budget.tier, {}, {})
        if run_id(cell, track_version, split_sha256, ident) != rec.run_id:
            out.append(f"run id {rec.run_id[:12]}… is not the hash of this cell's spec and identity")
        return out
    ap, dp = dict(rec.attack.params), dict(rec.defense.params)
    keys = [("a", k) for k in sorted(ap)] + [("d", k) for k in sorted(dp)]
    allowance = allowance if allowance is not None else [MAX_OVERRIDE_SETS]
    limit, tried = min(allowance[0], MAX_OVERRIDE_SETS), 0
    try:
        for size in range(len(keys) + 1):
            for combo in combinations(keys, size):
                if tried >= limit:
                    return [f"run id {rec.run_id[:12]}… is not the hash of this cell's spec (checked {tried} override sets, "
                            f"all this file had left of {MAX_OVERRIDE_SETS:,}; a record that states its identity needs one)"]
                a = {k: ap[k] for side, k in combo if side == "a"}
                d = {k: dp[k] for side, k in combo if side == "d"}
                cell = Cell(rec.track.name, rec.defense.name, rec.attack.name, int(rec.seed), rec.budget.tier, d, a)
                tried += 1
                if run_id(cell, track_version, split_sha256) == rec.run_id:
                    return []
        return [f"run id {rec.run_id[:12]}… is not the hash of this cell's spec (track, version, split, names, params, seed, tier)"]
    finally:
        allowance[0] -= tried


def budget_problems(rec: Record, track: Any, n_candidates: int) -> list[str]:
    """A tier the track defines, that tier's limits, and usage within them (queries per the split's candidates)."""
    tier = rec.budget.tier
    if tier not in track.budgets:
        return [f"budget tier {tier!r} is unknown to track {track.name!r}; tiers: {', '.join(track.budgets)}"]
    limits = track.budgets[tier].limits()
    out = []
    if rec.budget.limits != limits:
        out.append(f"budget limits {rec.budget.limits} are not the {tier!r} tier's {limits} (a relabelled tier?)")
    used = rec.budget.used
    caps = {"shadow_models": limits["max_shadows"], "device_seconds": limits["device_seconds"],
            "queries": limits["queries_per_candidate"] * n_candidates}
    for key, cap in caps.items():
        value = used.get(key)
        if finite_number(value) and value > cap:
            out.append(f"budget not respected: used {value:g} {key.replace('_', ' ')}, the {tier!r} tier allows {cap:g}")
        elif finite_number(value) and value < 0:
            out.append(f"budget.used {key!r} is {value:g}: usage is never negative")
        elif value is not None and not finite_number(value):
            out.append(f"budget.used {key!r} is {value!r}, not a number")
    return out


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v.split("+")[0])[:3])


@functools.lru_cache(maxsize=256)
def _known_commit(sha: str) -> bool | None:
    """Whether this harness's git history holds ``sha`` (None: not a git checkout, cannot tell)."""
    here = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=5)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != here.parent:
            return None
        got = subprocess.run(["git", "-C", str(here), "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return got.returncode == 0


def provenance_problems(rec: Record, installed_version: str | None) -> list[str]:
    """Provenance that is complete and could be true: versions that exist, a commit of privbench's history, a device."""
    prov = rec.provenance
    missing = [k for k in REQUIRED_PROVENANCE if getattr(prov, k) in (None, "")]
    out = [f"provenance incomplete: missing {', '.join(missing)}"] if missing else []
    for key in ("privbench_version", "python", "torch"):
        value = getattr(prov, key)
        if value not in (None, "") and not (isinstance(value, str) and _VERSION.match(value)):
            out.append(f"provenance {key} {value!r} is not a version")
    v = prov.privbench_version
    if isinstance(v, str) and _VERSION.match(v) and installed_version and _version_tuple(v) > _version_tuple(installed_version):
        out.append(f"provenance privbench_version {v} is newer than this harness ({installed_version}): upgrade privbench to validate it")
    if prov.device not in (None, "") and not (isinstance(prov.device, str) and _DEVICE.match(prov.device)):
        out.append(f"provenance device {prov.device!r} is not cpu, cuda[:N] or mps")
    return out + commit_problems("provenance", prov.git_commit)


def commit_problems(what: str, sha: Any) -> list[str]:
    """A ``git_commit`` that is absent, or a commit of privbench's history (when the harness is a git checkout)."""
    if sha is not None and not (isinstance(sha, str) and _COMMIT.match(sha)):
        return [f"{what} git_commit {sha!r} is not a 40-hex commit id"]
    if sha is not None and _known_commit(sha) is False:
        return [f"{what} git_commit {sha[:12]} is not a commit of privbench's history (run from a published commit)"]
    return []


def plugin_problems(rec: Record, registry: Any, *, versions: bool = True) -> list[str]:
    """Attack and defense name their plugin and version, and those are the installed ones (which validate the scores;
    ``versions=False``: any version of the installed plugin), with the installed plugin's options and threat model."""
    from ._api import PluginError

    out = []
    for kind, part in (("attack", rec.attack), ("defense", rec.defense)):
        absent = [key for key in ("name", "plugin", "version") if getattr(part, key) in (None, "")]
        out += [f"{kind} {key} is missing" for key in absent]
        if absent:
            continue
        try:
            reg = registry.get(kind + "s", part.name)
        except PluginError as exc:
            out.append(f"{exc} (install the plugin the record names to publish it)")
            continue
        if part.plugin != reg.plugin.name:
            out.append(f"{kind} {part.name!r} comes from plugin {reg.plugin.name!r} here, the record says {part.plugin!r}")
        if versions and str(part.version) != str(getattr(reg.obj, "version", None)):
            out.append(f"{kind} {part.name!r} is version {getattr(reg.obj, 'version', None)!r} here, the record says {part.version!r}")
        out += _param_problems(kind, part, dict(getattr(reg.obj, "params", {}) or {}))
        stated, declared = getattr(part, "threat_model", None), _threat_model_label(reg.obj)
        if kind == "attack" and stated is not None and stated != declared:  # the board an entry is ranked on
            out.append(f"attack {part.name!r} has threat model {declared!r} here, the record says {stated!r}")
    return out


def _param_problems(kind: str, part: Any, declared: dict[str, Any]) -> list[str]:
    """Params the plugin does not have (a run refuses them before training) or text that is not one plain line."""
    out = [f"{kind} {part.name!r} has no option {k!r}; its options: {', '.join(sorted(declared)) or 'none'}"
           for k in sorted(set(part.params) - set(declared))]

    def plain(value: Any) -> bool:  # a dict's keys and values are shown as text too
        if isinstance(value, dict):
            return all(plain(k) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return not isinstance(value, str) or (value.isprintable() and len(value) <= 200)

    size = len(json.dumps(part.params, default=str))
    if size > MAX_PARAMS_BYTES:  # 10,000 short strings in one option: a 9 MB README, and every run-id hash re-serialises them
        out.append(f"{kind} {part.name!r} options take {size:,} bytes, over the {MAX_PARAMS_BYTES:,} a board prints")
    return out + [f"{kind} {part.name!r} option {k!r} is not one line of printable text" for k, v in part.params.items() if not plain(v)]


MAX_PARAMS_BYTES = 2048


def with_threat_model(rec: Record, registry: Any) -> Record:
    """``rec`` stating the installed attack's threat model where it states none (one that differs is refused above):
    the board an entry is ranked on never depends on the plugins of whoever builds the tables."""
    if rec.attack.threat_model is not None:
        return rec
    from dataclasses import replace

    return rec.replace(attack=replace(rec.attack, threat_model=_threat_model_label(registry.get("attacks", rec.attack.name).obj)))


def _threat_model_label(attack: Any) -> str | None:
    from ._api import ThreatModel

    try:
        return ThreatModel(attack.threat_model).label
    except (AttributeError, ValueError):
        return None


def non_finite(rec: Record) -> list[str]:
    """NaN or infinite numbers: reported here, never left to crash the write after other entries are on disk."""
    def bad(values: Any) -> list[str]:
        return [k for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and not finite_number(v)]

    out = [f"metric {k!r} is not a finite number" for k in bad(rec.metrics)]
    out += [f"utility {k!r} is not a finite number" for k in bad(dict(rec.utility))]
    return out + [f"budget.used {k!r} is not a finite number" for k in bad(rec.budget.used)]


def link_problems(paper: str | None, code: str | None) -> list[str]:
    """Paper and code links are http(s) URLs (a ``javascript:`` link is never published)."""
    return [f"{what} link {url!r} is not an http(s) URL" for what, url in (("paper", paper), ("code", code))
            if url is not None and not re.match(r"^https?://[^\s\"'<>]+$", url)]


class PoolTruth:
    """A pool-design cell's ground truth, recomputed from the track and the record's seed, tier size and targets."""

    def __init__(self, design: Any, n_targets: int, legacy: bool = False):
        self.sha256 = design.legacy_sha256 if legacy else design.sha256
        self.n_targets = int(n_targets)
        self.per_target = len(design.pool)
        self._truth = np.concatenate([design.keep[t] for t in range(self.n_targets)])
        self.candidates = np.tile(np.asarray(design.pool), self.n_targets)

    def is_member(self) -> np.ndarray:
        return self._truth.copy()

    @classmethod
    def of(cls, track: Any, tracks: Any, rec: Record, legacy: bool = False) -> "PoolTruth":
        """``legacy``: the design before targets stopped being shadows (``bench._pool_design``), where the truth of
        target t is the same keep row t, under the sha256 of its day."""
        from ._pool_cell import design_for

        data = tracks.data(track)
        tier = track.budgets[rec.budget.tier]  # the design's targets are the tier's, whatever subset a run attacked
        n_targets = int(rec.design["targets"]) if legacy else tier.targets
        design = design_for(track, data, int(rec.seed), int(rec.design["models"]), track.split_seed, n_targets)
        return cls(design, int(rec.design["targets"]), legacy)


def utility_problems(rec: Record, utility: dict[tuple[Any, ...], tuple[float, str]]) -> list[str]:
    """Test accuracy belongs to the models: every cell on the same models (``utility`` remembers the first) reports one."""
    acc = rec.utility.test_accuracy
    if acc is not None and not (finite_number(acc) and 0.0 <= acc <= 1.0):  # 1e308 ranked #1 as "inf%"
        return [f"utility.test_accuracy is {acc!r:.40}, not a fraction between 0 and 1"]
    if not isinstance(acc, (int, float)):
        return []
    models = (rec.track.name, rec.track.version, rec.track.split_sha256, rec.defense.name, json.dumps(rec.defense.params, sort_keys=True),
              rec.seed, rec.budget.tier)
    first = utility.setdefault(models, (float(acc), rec.label()))
    if abs(first[0] - float(acc)) > 1e-9:
        return [f"utility.test_accuracy is {acc!r}, but {first[1]} reports {first[0]!r} for the same models (same track, split,"
                " defense and seed): test accuracy belongs to the models, not the attack"]
    return []
