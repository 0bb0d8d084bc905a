"""Verifying a published entry: re-run its cell through the runner and compare within the entry's tolerance.

A client of the runner (``Plan``, ``Session``, ``Cell``), like the CLI; publishing never runs anything. Only
an agreeing re-run marks the entry verified, and only the entry's ``verification`` is ever rewritten.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from ._entry import Entry, set_verification
from ._record import Record

__all__ = ["verify_entry", "compare", "hardware"]


def hardware(device: str) -> str:
    """A one-line description of the machine a verification ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"
    if device.startswith("cuda"):
        import torch

        desc = f"{torch.cuda.get_device_name(0)}; " + desc
    return desc


def _rerun(rec: Record, device: str, cache_dir: str | None, registry: Any, progress: bool) -> Record:
    from ._runner import Cell, Plan, Session

    cell = Cell(rec.track.name, rec.defense.name, rec.attack.name, int(rec.seed), rec.budget.tier,
                dict(rec.defense.params), dict(rec.attack.params))
    plan = Plan(tracks=[cell.track], attacks=[cell.attack], defenses=[cell.defense], seeds=[cell.seed], budget=cell.budget,
                device=device, cache_dir=cache_dir, progress=progress)
    new, _ = Session(plan, registry=registry).run_cell(cell)
    return new


def _value(rec: Record, key: str) -> float | None:
    return rec.utility.test_accuracy if key == "test_accuracy" else rec.metric(key)


def compare(published: Record, new: Record, tolerance: dict[str, float]) -> dict[str, Any]:
    """``{"agree", "diffs": {key: (published, reproduced, |diff|, tolerance)}, "error"}`` of a re-run against an entry."""
    out: dict[str, Any] = {"status": new.status, "error": new.error, "diffs": {}, "agree": False}
    if not new.ok:
        return out
    # The entry holds resolved parameters (defaults included), so its run_id (made from the overrides given
    # at run time) is not recomputed; the spec is compared field by field instead.
    def spec(r: Record) -> tuple:
        return (r.track.version, r.track.split_sha256, dict(r.attack.params), dict(r.defense.params))

    if spec(new) != spec(published):
        out["error"] = "the re-run's cell spec (track version, split, resolved params) differs from the entry's"
        return out
    agree = True
    for key, t in tolerance.items():
        old, got = _value(published, key), _value(new, key)
        if old is None or got is None:
            agree = False
            out["diffs"][key] = (old, got, None, t)
            continue
        d = abs(got - old)
        out["diffs"][key] = (old, got, d, t)
        agree &= d <= t
    out["agree"] = bool(agree)
    return out


def _verification(new: Record, diffs: dict[str, Any], device: str) -> dict[str, Any]:
    from ._records import now, provenance

    prov = provenance(device)
    return {
        "verified_at": now(), "device": device, "hardware": hardware(device),
        "privbench_version": prov.privbench_version, "git_commit": prov.git_commit, "torch": prov.torch,
        "metrics": {k: v[1] for k, v in diffs.items()}, "budget_used": dict(new.budget.used),
    }


def verify_entry(path: str | os.PathLike[str], *, device: str = "cpu", cache_dir: str | None = None, registry: Any = None,
                 mark: bool = False, progress: bool = False) -> dict[str, Any]:
    """Re-run an entry's cell from its spec and compare metrics within the entry's tolerance.

    Returns ``{"agree": bool, "diffs": {metric: (published, reproduced, |diff|, tolerance)}, ...}``;
    with ``mark``, the entry gets its ``verification`` if it agrees, and loses an earlier one if it does not.
    """
    import json

    from .publish import DEFAULT_TOLERANCE

    path = Path(path)
    entry = Entry.from_dict(json.loads(path.read_text()), str(path))
    new = _rerun(entry.record, device, cache_dir, registry, progress)
    # An entry may tighten a tolerance, never loosen one: the harness's tolerance caps what the file says.
    tolerance = {k: min(v, float(entry.tolerance.get(k, v))) for k, v in DEFAULT_TOLERANCE.items()}
    out = {"entry": str(path), **compare(entry.record, new, tolerance)}
    if mark and out["agree"]:
        set_verification(path, _verification(new, out["diffs"], device))
        out["marked"] = True
    elif mark and entry.verification:  # an earlier verification no longer vouches for these numbers
        set_verification(path, None)
        out["unmarked"] = True
    return out
