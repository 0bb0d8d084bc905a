"""A run's plan: the grid of (track, defense, attack, seed) cells and each cell's identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

__all__ = ["Cell", "Plan", "run_id", "expand_grid"]


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_id(cell: Cell, track_version: str, split_sha256: str) -> str:
    spec = {
        "track": {"name": cell.track, "version": track_version, "split_sha256": split_sha256},
        "defense": {"name": cell.defense, "params": dict(cell.defense_params)},
        "attack": {"name": cell.attack, "params": dict(cell.attack_params)},
        "seed": cell.seed,
        "budget": cell.budget,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def expand_grid(plan: Plan) -> list[Cell]:
    """Cells ordered so that each (track, defense, seed) group runs together (one target per group)."""
    cells = []
    for t in plan.tracks:
        for d in plan.defenses:
            for s in plan.seeds:
                for a in plan.attacks:
                    cells.append(Cell(t, d, a, s, plan.budget, dict(plan.params.get(d, {})), dict(plan.params.get(a, {}))))
    return cells
