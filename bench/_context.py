"""What an attack receives: the target oracle, shadow models, population, budget — and no membership.

Nothing reachable from an ``AttackContext`` holds the split, member indices or a membership mask:
the runner keeps those. Training and caching models is the model layer's (``_models``, ``_shadows``). The oracle forwards only the queries the attack's threat model allows and
charges every queried example to the budget.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._api import Budget, BudgetExceeded, Candidates, Predictor, ThreatModel, ThreatModelViolation, TrackInfo

if TYPE_CHECKING:  # pragma: no cover
    from ._cost import TrainingCost
    from ._shadows import ShadowSource

__all__ = ["AttackContext", "TargetOracle", "ShadowModel", "Shadows", "BudgetLedger", "BudgetView"]


class BudgetLedger:
    """Counts what an attack spends. Thread-safe; ``stop()`` makes every later charge raise."""

    def __init__(self, budget: Budget, n_candidates: int, owner: str = "attack"):
        self.budget = budget
        self.owner = owner
        self.max_queries = int(budget.queries_per_candidate * n_candidates)
        self.queries = 0
        self.shadow_keys: set[str] = set()
        self.shadow_seconds = 0.0  # what the shadows used are charged: reference seconds of their cost (else recorded)
        self.shadow_recorded_seconds = 0.0  # their recorded wall-clock training time, reported beside
        self.shadow_steps = 0
        self.shadow_flops = 0.0
        self.device = "cpu"  # the reference device kind shadows are charged on (set by the harness)
        self._training_wall = 0.0  # wall time spent training shadows now (already in elapsed time)
        self._start = time.perf_counter()
        self._lock = threading.Lock()
        self._stopped: str | None = None

    def stop(self, why: str) -> None:
        self._stopped = why

    def device_seconds(self) -> float:
        wall = time.perf_counter() - self._start
        return wall - self._training_wall + self.shadow_seconds

    def check(self) -> None:
        if self._stopped:
            raise BudgetExceeded(f"{self.owner} was stopped: {self._stopped}")
        used = self.device_seconds()
        if used > self.budget.device_seconds:
            raise BudgetExceeded(
                f"{self.owner} used {used:.1f} device-seconds, over the {self.budget.tier!r} budget of {self.budget.device_seconds:g}"
            )

    def charge_queries(self, n: int, what: str) -> None:
        with self._lock:
            self.check()
            if self.queries + n > self.max_queries:
                raise BudgetExceeded(
                    f"{self.owner} asked the target for {self.queries + n} examples ({what}), over the {self.budget.tier!r} budget of"
                    f" {self.max_queries} ({self.budget.queries_per_candidate:g} per candidate)"
                )
            self.queries += n

    def charge_shadow(self, key: str, recorded_seconds: float, trained_now_seconds: float, cost: "TrainingCost | None" = None) -> None:
        """Charge one shadow model once: its machine-independent ``cost`` (steps, model FLOPs) at the reference
        device's rate, or, for a model trained without a recipe, its recorded seconds."""
        with self._lock:
            self._training_wall += trained_now_seconds
            if key in self.shadow_keys:
                return
            if len(self.shadow_keys) + 1 > self.budget.max_shadows:
                raise BudgetExceeded(
                    f"{self.owner} asked for more than the {self.budget.max_shadows} shadow models of the {self.budget.tier!r} budget"
                )
            self.shadow_keys.add(key)
            self.shadow_recorded_seconds += recorded_seconds
            if cost is None:
                self.shadow_seconds += recorded_seconds
            else:
                self.shadow_seconds += cost.reference_seconds(self.device)
                self.shadow_steps += cost.steps
                self.shadow_flops += cost.flops
        self.check()

    def reserve_shadows(self, keys: list[str]) -> None:
        """Refuse up front a request that would take the attack past its shadow-model cap."""
        total = len(self.shadow_keys | set(keys))
        if total > self.budget.max_shadows:
            raise BudgetExceeded(
                f"{self.owner} asked for {total} shadow models in all, over the {self.budget.max_shadows}"
                f" of the {self.budget.tier!r} budget"
            )

    def used(self) -> dict[str, float]:
        """``device_seconds`` (charged: the attack's own time plus its shadows' reference cost) and, beside it,
        the machine-independent shadow cost (``shadow_steps``, ``shadow_flops``) and their recorded seconds."""
        return {"queries": self.queries, "shadow_models": len(self.shadow_keys), "device_seconds": round(self.device_seconds(), 3),
                "shadow_steps": self.shadow_steps, "shadow_flops": float(self.shadow_flops),
                "shadow_seconds_charged": round(self.shadow_seconds, 3), "shadow_seconds_recorded": round(self.shadow_recorded_seconds, 3)}


class BudgetView:
    """Read-only view of an attack's budget: ``limits``, ``used``, ``remaining_queries``."""

    def __init__(self, ledger: BudgetLedger):
        self._ledger = ledger

    @property
    def tier(self) -> str:
        return self._ledger.budget.tier

    @property
    def limits(self) -> dict[str, Any]:
        return self._ledger.budget.limits()

    @property
    def used(self) -> dict[str, float]:
        return self._ledger.used()

    @property
    def max_queries(self) -> int:
        return self._ledger.max_queries

    @property
    def remaining_queries(self) -> int:
        return self._ledger.max_queries - self._ledger.queries

    @property
    def max_shadows(self) -> int:
        return self._ledger.budget.max_shadows

    def __repr__(self) -> str:
        return f"BudgetView(tier={self.tier!r}, limits={self.limits}, used={self.used})"


class TargetOracle:
    """The target as the threat model allows: its predictor's ``QUERIES``, ``timings`` (TIMING), ``module`` (WHITEBOX)."""

    def __init__(self, predictor: Predictor, module: Any, threat_model: ThreatModel, ledger: BudgetLedger, prepared: Any = None):
        self._predictor = predictor
        self._module = module
        self._prepared = prepared  # the defense's serving state, for a worker's white-box copy (bench._worker)
        self._threat_model = ThreatModel(threat_model)
        self._ledger = ledger

    @property
    def threat_model(self) -> ThreatModel:
        return self._threat_model

    @property
    def queries(self) -> dict[str, ThreatModel]:
        """The query methods the target answers and the weakest threat model allowed for each."""
        return dict(type(self._predictor).QUERIES)

    def _allow(self, what: str, needs: ThreatModel) -> None:
        if not self._threat_model.allows(needs):
            raise ThreatModelViolation(
                f"{self._ledger.owner} has threat model {self._threat_model.label!r} but called {what}, which needs {needs.label!r}"
            )

    def __getattr__(self, name: str) -> Callable[..., Any]:
        queries = type(self.__dict__["_predictor"]).QUERIES
        if name not in queries:
            raise AttributeError(f"the target oracle has no query {name!r}; it answers {', '.join(sorted(queries))}")
        self._allow(f"target.{name}()", queries[name])
        method = getattr(self._predictor, name)

        def query(x: Any, *args: Any, **kwargs: Any) -> Any:
            self._ledger.charge_queries(len(x), f"target.{name}")
            return method(x, *args, **kwargs)

        query.__name__ = name
        return query

    def charge(self, name: str, n: int) -> None:
        """Check and charge a query that a white-box attack's own copy of the module answers (in its worker)."""
        self._allow(f"target.{name}() on its copy of the module", ThreatModel.WHITEBOX)
        self._allow(f"target.{name}()", type(self._predictor).QUERIES[name])
        self._ledger.charge_queries(int(n), f"target.{name}")

    def timings(self, x: Any) -> np.ndarray:
        """Seconds the target took to answer each example of ``x``, served alone and in order; never the answers.

        Timed here, in the process that holds the model, around the predictor's ``TIMED`` query. Each
        example is a query: repeating one to average out noise is charged like any other query.
        """
        self._allow("target.timings()", ThreatModel.TIMING)
        self._ledger.charge_queries(len(x), "target.timings")
        serve = getattr(self._predictor, type(self._predictor).TIMED)
        out = np.empty(len(x))
        for i in range(len(x)):
            one = x[i : i + 1]
            start = time.perf_counter()
            serve(one)
            out[i] = time.perf_counter() - start
        return out

    @property
    def module(self) -> Any:
        self._allow("target.module", ThreatModel.WHITEBOX)
        return self._module


@dataclass
class ShadowModel:
    """One of the attacker's own models: full access, served through the same defense as the target."""

    predictor: Predictor
    module: Any
    train_seconds: float
    cached: bool
    prepared: Any = None  # the defense's serving state for this model (``Defense.prepare``), shipped to attack workers

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["predictor"], name)


@dataclass
class Shadows:
    """Shadow models, their training pool and the inclusion matrix (``inclusion[i, j]``: model i trained on pool[j]).

    Online shadows train on the candidates (first ``n_candidates`` pool entries, in ctx order) and the population.
    """

    models: list[ShadowModel]
    inclusion: np.ndarray
    pool: Candidates
    n_candidates: int

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self):
        return iter(self.models)

    def __getitem__(self, i: int) -> ShadowModel:
        return self.models[i]

    @property
    def candidate_inclusion(self) -> np.ndarray:
        """(n_models, n_candidates) IN/OUT matrix for the candidates (online shadows only)."""
        if not self.n_candidates:
            raise ValueError("offline shadows never train on candidates; ask for ctx.shadows(n, online=True)")
        return self.inclusion[:, : self.n_candidates]


RESERVED_EXPORTS = frozenset({"scores", "is_member", "candidate_units"})  # the harness's arrays in a scores file


class AttackContext:
    """Everything an attack may use. See DESIGN.md: candidates, target, population, shadows, budget, rng."""

    def __init__(
        self,
        *,
        candidates: Candidates,
        population: Candidates,
        target: TargetOracle,
        track: TrackInfo,
        ledger: BudgetLedger,
        seed: int,
        device: str,
        shadow_source: "ShadowSource",
    ):
        self.candidates = candidates
        self.population = population
        self.target = target
        self.track = track
        self.budget = BudgetView(ledger)
        self.seed = int(seed)
        self.rng = np.random.default_rng([int(seed), 0x5EED])
        self.device = device
        self._ledger = ledger
        self._shadow_source = shadow_source
        self.threshold: float | None = None
        self.exports: dict[str, np.ndarray] = {}

    def shadows(self, n: int, *, online: bool = False) -> Shadows:
        """n shadow models trained with the track's recipe (and defense) on random subsets of the pool."""
        return self._shadow_source.shadows(n, online, self._ledger)

    def set_threshold(self, threshold: float) -> None:
        """The attack's operating point (calibrated on shadows): balanced accuracy is measured there."""
        self.threshold = float(threshold)

    def export(self, name: str, values: np.ndarray) -> None:
        """Save a per-candidate array next to the scores (e.g. memorization scores)."""
        if name in RESERVED_EXPORTS:
            raise ValueError(f"export name {name!r} is the harness's own (reserved: {', '.join(sorted(RESERVED_EXPORTS))}); pick another")
        values = np.asarray(values)
        if len(values) != len(self.candidates):
            raise ValueError(f"export {name!r} has {len(values)} values for {len(self.candidates)} candidates")
        self.exports[name] = values
