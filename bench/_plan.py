"""A run's plan: the grid of (track, defense, attack, seed) cells and each cell's identity."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

__all__ = ["Cell", "Plan", "run_id", "harness_version", "expand_grid", "check_params"]


@dataclass(frozen=True)
class Cell:
    """One grid cell, plain data (picklable: executors may ship it to other processes)."""

    track: str
    defense: str
    attack: str
    seed: int
    budget: str
    defense_params: Mapping[str, Any] = field(default_factory=dict)
    attack_params: Mapping[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        return f"{self.track}/{self.defense}/{self.attack}/seed{self.seed}"


@dataclass
class Plan:
    """A resolved run: what the CLI (or a script) asks for."""

    tracks: list[str]
    attacks: list[str]
    defenses: list[str]
    seeds: list[int]
    budget: str = "smoke"
    out_dir: str = "runs/default"
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> param overrides
    data_dir: str | None = None
    device: str | None = None
    cache_dir: str | None = None
    plugin_files: list[str] = field(default_factory=list)
    retry_failed: bool = False
    timeout_grace: float = 30.0
    progress: bool = True
    scenarios: bool = True  # score OOD / neighbour non-members for attacks that set a threshold
    # "process": score() in a sandboxed worker (bench._worker); "thread": in this process, for bench.testing's unit
    # tests only (make_session's default). None: "process".
    isolation: str | None = None
    sandbox: str | None = None  # auto | bwrap | nobody | off (default: $PRIVBENCH_SANDBOX, else auto)
    official: bool = False  # split seed drawn at run time, private cold cache (bench._official)
    split_seed: int | None = None  # set by an official run (kept private in the run folder for resuming)
    targets: int | None = None  # pool-design tracks: targets per cell (None: the budget tier's)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_id(cell: Cell, track_version: str, split_sha256: str, identity: Mapping[str, Any] | None = None) -> str:
    """The cell's identity: what it ran (track, split, defense, attack, seed, tier) and, in ``identity``, everything
    that decides its numbers (resolved parameters, plugin distributions and versions, the harness's version and
    source digest, the pool design), so a changed plugin or harness never reuses a stale record."""
    spec = {
        "track": {"name": cell.track, "version": track_version, "split_sha256": split_sha256},
        "defense": {"name": cell.defense, "params": dict(cell.defense_params)},
        "attack": {"name": cell.attack, "params": dict(cell.attack_params)},
        "seed": cell.seed,
        "budget": cell.budget,
    }
    if identity:  # the resolved parameters are in it: the overrides that produced them are not hashed again
        spec["identity"] = dict(identity)
        spec["defense"].pop("params")
        spec["attack"].pop("params")
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def harness_version() -> dict[str, str | None]:
    """privbench's distribution version and a digest of the harness's own source (``bench/*.py``)."""
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    try:
        dist = version("privbench")
    except PackageNotFoundError:
        dist = None
    return {"version": dist, "source_sha256": h.hexdigest()}


def expand_grid(plan: Plan) -> list[Cell]:
    """Cells ordered so that each (track, defense, seed) group runs together (one target per group)."""
    cells = []
    for t in plan.tracks:
        for d in plan.defenses:
            for s in plan.seeds:
                for a in plan.attacks:
                    cells.append(Cell(t, d, a, s, plan.budget, dict(plan.params.get(d, {})), dict(plan.params.get(a, {}))))
    return cells


def check_params(plan: Plan, registry: Any) -> list[str]:
    """Problems with ``plan.params`` (``--set NAME.KEY=VALUE``), found before anything trains: a name that is not one of
    the plan's tracks, attacks or defenses, or a key that plugin does not have. Each names the known ones."""
    problems = []
    kinds = [("track", t, None) for t in plan.tracks] + [("attack", a, "attacks") for a in plan.attacks] + [("defense", d, "defenses") for d in plan.defenses]
    known = {name: (kind, reg) for kind, name, reg in kinds}
    for name, overrides in plan.params.items():
        if name not in known:
            listed = ", ".join(sorted(known))
            problems.append(f"{name!r} is no track, defense or attack of this run ({listed})")
            continue
        kind, reg = known[name]
        try:
            defaults = dict(registry.track(name).params) if kind == "track" else dict(registry.get(reg, name).obj.params)
        except Exception as exc:  # a plugin that fails to load is reported by its cells
            problems.append(f"cannot read the options of {kind} {name!r}: {exc}")
            continue
        for key in sorted(set(overrides) - set(defaults)):
            problems.append(f"{kind} {name!r} has no option {key!r}; its options: {', '.join(sorted(defaults)) or 'none'}")
    return problems
