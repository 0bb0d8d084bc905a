"""Budget tiers: what an attack may spend per target (shadow models, queries, device-seconds) and, on pool-design
tracks, how many models a cell trains and how many of them are attacked in turn."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Budget", "DEFAULT_TARGETS"]

DEFAULT_TARGETS = {"smoke": 2, "cpu": 8, "gpu": 16}


@dataclass(frozen=True)
class Budget:
    """Compute limits of one tier: shadow models, target queries per candidate, device-seconds.

    >>> Budget("smoke", max_shadows=4, queries_per_candidate=8, device_seconds=60).limits()["max_shadows"]
    4
    """

    tier: str
    max_shadows: int
    queries_per_candidate: float
    device_seconds: float
    # Targets per cell on pool-design tracks (LiRA's design: M = T + max_shadows models, each attack run against the
    # T targets in turn, with the max_shadows others as its shadows). None: the tier's default (smoke 2, cpu 8, gpu 16).
    targets: int | None = None

    def __post_init__(self) -> None:
        if self.targets is None:
            object.__setattr__(self, "targets", DEFAULT_TARGETS.get(self.tier, 2))
        if self.targets < 1:
            raise ValueError(f"budget {self.tier!r}: targets must be at least 1, not {self.targets}")

    @property
    def models(self) -> int:
        """Models trained per (track, defense, seed) on pool-design tracks: T targets and the shadows they all share
        (no target is another's shadow: ``bench._pool_design``)."""
        return self.targets + self.max_shadows

    def limits(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("tier")
        return d
