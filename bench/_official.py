"""Official runs: a split the attacker never saw, drawn at run time, and models from a cold private cache.

``prepare_official(plan)`` draws the split seed from the OS (``secrets``) the first time and keeps it
in ``OUT/.official/`` (mode 0700, never shown to the attack's sandboxed worker), so an interrupted
official run resumes on the same split; the model cache of the run lives there too. The runner writes
the seed into each record only after the attack has returned its scores.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = ["prepare_official", "official_setup", "PRIVATE_DIR"]

PRIVATE_DIR = ".official"


def prepare_official(plan: Any) -> Path:
    """Set ``plan.split_seed`` and ``plan.cache_dir`` for an official run; returns its private folder."""
    if plan.isolation is None:
        plan.isolation = "process"
    if plan.isolation != "process":
        raise ValueError("an official run scores attacks in worker processes: use isolation='process' (drop --isolation thread)")
    private = Path(plan.out_dir) / PRIVATE_DIR
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(private, 0o700)
    seed_file = private / "split_seed.json"
    if plan.split_seed is None:
        if seed_file.exists():
            plan.split_seed = int(json.loads(seed_file.read_text())["split_seed"])
        else:
            plan.split_seed = secrets.randbits(63)
            fd = os.open(seed_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"split_seed": plan.split_seed}, f)
    cache = private / "cache"
    cache.mkdir(exist_ok=True, mode=0o700)
    plan.cache_dir = str(cache)
    return private


def official_setup(plan: Any, registry: Any = None, manager: Any = None) -> tuple[Any, Any]:
    """A session's official start: the private split seed drawn (or, resuming, read) and its cold cache; the registry
    with attack plugins imported only in the sandbox (``bench._official_plugins``) unless one is given; then a track or
    defense of a plugin that also registers attacks refused before anything trains. Returns (manager, registry)."""
    from ._official_plugins import check_official, official_registry

    prepare_official(plan)
    if registry is None:
        manager, registry = official_registry(plan.plugin_files, sandbox=plan.sandbox, hide=[plan.out_dir, plan.cache_dir],
                                              wanted={"tracks": plan.tracks, "defenses": plan.defenses})
    check_official(registry, plan)
    return manager, registry
