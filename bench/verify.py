"""Verifying published cells: an official re-run from scratch on a fresh split, written as a separate file.

For each cell of a submission, ``verify`` runs the same cell spec (track, tier, attack and defense with their
resolved parameters, seed) as an **official run** (``Plan(official=True)``): the split seed is drawn at run time,
every model trains from a cold private cache in a work folder, and the attack is scored in a sandboxed worker
process. It never reads the submitter's models, cache or scores. The reproduction is compared with the entry by
:func:`bench._agreement.agreement` (the entry's own intervals against the reproduction's) and written, agreeing or
not, to ``<track>/<tier>/verifications/`` (:func:`bench._submission.write_verification`). The submission file is
never touched; the board counts a cell as verified only through such a file that it re-checks itself.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from ._agreement import agreement, same_spec
from ._record import Record
from ._submission import cell_line, read_submission, write_verification

__all__ = ["verify_submission", "reproduce", "hardware", "submission_wanted"]


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


def reproduce(rec: Record, work_dir: str | os.PathLike[str], *, device: str = "cpu", registry: Any = None,
              sandbox: str | None = None, plugin_files: Iterable[str] = (), progress: bool = False) -> Record:
    """An official run of ``rec``'s cell in ``work_dir`` (fresh split, cold cache, sandboxed worker); its record.

    Without ``registry``, the official one (``bench._official_plugins``): a plugin that registers attacks is
    described in the sandbox, never imported in this process."""
    from ._runner import Plan, Session, run_plan

    params = {rec.defense.name: dict(rec.defense.params), rec.attack.name: dict(rec.attack.params)}
    plan = Plan(tracks=[rec.track.name], attacks=[rec.attack.name], defenses=[rec.defense.name], seeds=[int(rec.seed)],
                budget=rec.budget.tier, out_dir=str(work_dir), params=params, device=device, plugin_files=list(plugin_files),
                progress=progress, scenarios=False, isolation="process", sandbox=sandbox, official=True)
    records = run_plan(plan, session=Session(plan, registry=registry))
    return records[0]


def submission_wanted(sub: Any) -> dict[str, list[str]]:
    """The tracks and defenses a submission's cells use: the only third-party plugins its verification imports."""
    return {"tracks": sorted({c.record.track.name for c in sub.cells}), "defenses": sorted({c.record.defense.name for c in sub.cells})}


def _select(cells: Any, wanted: Iterable[str]) -> list[Any]:
    wanted = list(wanted)
    if not wanted:
        return list(cells)
    chosen = [c for c in cells if any(c.record.run_id.startswith(w) for w in wanted)]
    missing = [w for w in wanted if not any(c.record.run_id.startswith(w) for c in cells)]
    if missing:
        raise ValueError(f"no cell with run id {', '.join(map(repr, missing))} in this submission")
    return chosen


def _verification(sid: str, published: Record, new: Record, device: str, seconds: float) -> dict[str, Any]:
    from .publish import harness_provenance
    from ._records import now

    differs = same_spec(published, new)
    agreed = agreement(published, new)
    return {
        "submission_id": sid, "run_id": published.run_id, "verified_at": now(), "device": device, "hardware": hardware(device),
        "harness": harness_provenance(), "wall_seconds": round(seconds, 1), "record": cell_line(new, None)["record"],
        "agreement": agreed, "agree": bool(agreed["agree"] and differs is None), "error": differs or new.error,
    }


def _folder_hint(run_id: str) -> str:
    """The run id's first 12 characters where they are hex (a harness run id), else "cell": a name only."""
    hint = str(run_id)[:12]
    return hint if re.fullmatch(r"[0-9a-f]{12}", hint) else "cell"


def verify_submission(path: str | os.PathLike[str], *, cells: Iterable[str] = (), device: str = "cpu", registry: Any = None,
                      work_dir: str | os.PathLike[str] | None = None, sandbox: str | None = None, plugin_files: Iterable[str] = (),
                      progress: bool = False) -> list[dict[str, Any]]:
    """Reproduce cells of the submission at ``path`` (all, or those whose run id starts with one of ``cells``).

    Returns one result per cell: the verification written (``agree``, ``agreement``, ``error``) plus ``file``,
    the verification file, and ``intact``, whether the submission still hashes to its id."""
    path = Path(path)
    sub = read_submission(path)
    root = path.parent.parent.parent
    if registry is None:  # built once for every cell: attack plugins are described in the sandbox, never imported here
        from ._official_plugins import official_registry

        registry = official_registry(plugin_files, sandbox=sandbox, hide=[str(work_dir)] if work_dir else [], wanted=submission_wanted(sub))[1]
    out = []
    for cell in _select(sub.cells, cells):
        rec = cell.record
        # a folder of its own, never one an earlier verification left (its split seed may be public by now), and never
        # one the entry names: the run id is the submitter's text
        if work_dir:
            Path(work_dir).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{_folder_hint(rec.run_id)}-", dir=work_dir))
        start = time.perf_counter()
        try:
            new = reproduce(rec, work, device=device, registry=registry, sandbox=sandbox, plugin_files=plugin_files, progress=progress)
        finally:
            if not work_dir:
                shutil.rmtree(work, ignore_errors=True)
        data = _verification(sub.submission_id, rec, new, device, time.perf_counter() - start)
        if not sub.intact:  # what was published is not what this file says: nothing here can agree
            data.update(agree=False, error=f"{path.name} was edited after it was submitted (it no longer hashes to its id)")
        file = write_verification(root, sub.header.track, sub.header.tier, data)
        out.append({**data, "cell": rec.label(), "file": file, "intact": sub.intact})
    return out
