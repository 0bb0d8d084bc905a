"""What an attack receives: the target oracle, shadow models, population, budget — and no membership.

Nothing reachable from an ``AttackContext`` holds the split, member indices or a membership mask:
the runner keeps those. The oracle forwards only the queries the attack's threat model allows and
charges every queried example to the budget.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._api import Budget, BudgetExceeded, Candidates, Dataset, Defense, Predictor, ThreatModel, ThreatModelViolation, TrackInfo

if TYPE_CHECKING:  # pragma: no cover
    from ._cache import ModelCache
    from ._track import Track

__all__ = ["AttackContext", "TargetOracle", "ShadowModel", "Shadows", "BudgetLedger", "BudgetView", "ModelFactory"]


class BudgetLedger:
    """Counts what an attack spends. Thread-safe; ``stop()`` makes every later charge raise."""

    def __init__(self, budget: Budget, n_candidates: int, owner: str = "attack"):
        self.budget = budget
        self.owner = owner
        self.max_queries = int(budget.queries_per_candidate * n_candidates)
        self.queries = 0
        self.shadow_keys: set[str] = set()
        self.shadow_seconds = 0.0  # recorded training cost of the shadows used
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

    def charge_shadow(self, key: str, recorded_seconds: float, trained_now_seconds: float) -> None:
        with self._lock:
            self._training_wall += trained_now_seconds
            if key in self.shadow_keys:
                return
            if len(self.shadow_keys) + 1 > self.budget.max_shadows:
                raise BudgetExceeded(
                    f"{self.owner} asked for more than the {self.budget.max_shadows} shadow models of the {self.budget.tier!r} budget"
                )
            self.shadow_keys.add(key)
            self.shadow_seconds += recorded_seconds
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
        return {"queries": self.queries, "shadow_models": len(self.shadow_keys), "device_seconds": round(self.device_seconds(), 3)}


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

    def __init__(self, predictor: Predictor, module: Any, threat_model: ThreatModel, ledger: BudgetLedger):
        self._predictor = predictor
        self._module = module
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


class ModelFactory:
    """Trains or loads the models of one (track, defense, seed), each exactly once (content-addressed)."""

    def __init__(self, track: "Track", data: Dataset, split_sha256: str, defense: Defense, cache: "ModelCache", device: str = "cpu", progress: Callable[[str], Any] | None = None):
        self.track = track
        self.data = data
        self.split_sha256 = split_sha256
        self.defense = defense
        self.cache = cache
        self.device = device
        self.progress = progress

    def spec(self, role: str, units: np.ndarray, seed: int) -> dict[str, Any]:
        return {
            "track": {"name": self.track.name, "version": self.track.version, "split_sha256": self.split_sha256},
            "recipe": self.defense.adapt_recipe(getattr(self.track, "recipe", None)).spec() if getattr(self.track, "recipe", None) is not None else None,
            "defense": _training_identity(self.defense),
            "role": role,
            "units_sha256": hashlib.sha256(np.asarray(units, dtype=np.int64).tobytes()).hexdigest(),
            "n_units": int(len(units)),
            "seed": int(seed),
        }

    def get(self, role: str, units: np.ndarray, seed: int) -> tuple[Any, dict[str, Any], bool]:
        """(module, meta, cached): meta holds ``key``, ``train_seconds`` and the defense's report."""
        from ._cache import spec_key

        spec = self.spec(role, units, seed)
        key = spec_key(spec)
        with self.cache.lock(key):  # another worker training this model: wait, then load it
            hit = self.cache.load(key, lambda: self.track.build_module(self.defense))
            if hit is not None:
                module, meta = hit
                return module.to(self.device), meta, True
            module, meta = self._train_one(role, units, seed, spec, key)
        return module, meta, False

    def _train_one(self, role: str, units: np.ndarray, seed: int, spec: dict[str, Any], key: str) -> tuple[Any, dict[str, Any]]:
        rows = self.track.training_rows(self.data, np.asarray(units))
        bar = self.progress(f"train {role}") if self.progress else None
        trained = self.track.train(self.data[rows], self.defense, seed=seed, device=self.device, progress=bar)
        if bar is not None and hasattr(bar, "close"):
            bar.close()
        meta = {"spec": spec, "train_seconds": trained.train_seconds, "defense_report": self.defense.report(trained)}
        module = getattr(trained.module, "_module", trained.module)  # unwrap e.g. Opacus' GradSampleModule
        self.cache.save(key, module, meta)
        meta["key"] = key
        return module, meta

    def batchable(self) -> bool:
        """Whether models of this (track, defense) can train stacked (``bench.training.fit_many``).

        Only when nothing customizes training: the defense keeps ``Defense.train``, the track keeps
        ``Track.train``/``trainer``/``build_module``, and the recipe's architecture is batchable.
        On a CPU, stacking only pays where per-step overhead dominates: a model whose minibatch step is
        compute-bound (e.g. fashion-mnist's 784-512-10 MLP on 2 cores: 0.75x measured) trains one at a time.
        ``PRIVBENCH_BATCHED_SHADOWS=0`` turns stacking off; a positive value forces it (and sets the stack size).
        """
        import os

        from ._api import Defense
        from ._track import Track

        recipe = getattr(self.track, "recipe", None)
        if recipe is None or _batch_limit() == 0 or type(self.defense).train is not Defense.train:
            return False
        if any(getattr(type(self.track), m) is not getattr(Track, m) for m in ("train", "trainer", "build_module")):
            return False
        from .training import batchable

        recipe = self.defense.adapt_recipe(recipe)
        if not batchable(recipe):
            return False
        if str(self.device).startswith("cpu") and not os.environ.get(BATCH_ENV, "").strip():
            n_params = sum(p.numel() for p in self.track.build_module(self.defense).parameters())
            return n_params * recipe.batch_size <= CPU_STACK_MAX_MACS
        return True

    def get_many(self, role: str, units: list[np.ndarray], seeds: list[int]) -> list[tuple[Any, dict[str, Any], bool, float]]:
        """(module, meta, cached, seconds trained now) per (units, seed): cache hits loaded, misses trained together where possible."""
        from ._cache import spec_key

        specs = [self.spec(role, u, s) for u, s in zip(units, seeds)]
        keys = [spec_key(spec) for spec in specs]
        with self.cache.lock(*keys):
            return self._get_many_locked(role, units, seeds, specs, keys)

    def _get_many_locked(self, role: str, units: list[np.ndarray], seeds: list[int], specs: list[dict], keys: list[str]) -> list[tuple[Any, dict[str, Any], bool, float]]:
        out: list[Any] = [None] * len(seeds)
        misses = []
        for i, (spec, key) in enumerate(zip(specs, keys)):
            hit = self.cache.load(key, lambda: self.track.build_module(self.defense))
            if hit is not None:
                out[i] = (hit[0].to(self.device), hit[1], True, 0.0)
            else:
                misses.append((i, spec, key))
        if misses and self.batchable():
            limit = _batch_limit()
            for j in range(0, len(misses), limit):
                self._train_stack(role, units, seeds, misses[j : j + limit], out)
        else:
            for i, spec, key in misses:
                t0 = time.perf_counter()
                module, meta = self._train_one(role, units[i], seeds[i], spec, key)
                out[i] = (module, meta, False, time.perf_counter() - t0)
        return out

    def _train_stack(self, role: str, units: list[np.ndarray], seeds: list[int], chunk: list[tuple[int, dict, str]], out: list[Any]) -> None:
        from .training import fit_many

        t0 = time.perf_counter()
        bar = self.progress(f"train {len(chunk)} {role}s batched") if self.progress else None
        trained = fit_many(
            self.defense.adapt_recipe(self.track.recipe),
            self.data,
            [self.track.training_rows(self.data, np.asarray(units[i])) for i, _, _ in chunk],
            [seeds[i] for i, _, _ in chunk],
            input_shape=self.track.input_shape,
            num_classes=self.track.num_classes,
            device=self.device,
            progress=bar,
        )
        if bar is not None and hasattr(bar, "close"):
            bar.close()
        share = (time.perf_counter() - t0) / len(chunk)
        for (i, spec, key), tm in zip(chunk, trained):
            meta = {"spec": spec, "train_seconds": tm.train_seconds, "defense_report": self.defense.report(tm), "batched": len(chunk)}
            self.cache.save(key, tm.module, meta)
            meta["key"] = key
            out[i] = (tm.module, meta, False, share)


BATCH_ENV = "PRIVBENCH_BATCHED_SHADOWS"
# Multiply-accumulates of one model's minibatch step (≈ parameters × batch size) above which a CPU is
# compute-bound and stacking models no longer saves time (measured on 2 cores: digits' MLP, 0.3M: 4.5x
# faster stacked; fashion-mnist's MLP, 52M: 0.75x).
CPU_STACK_MAX_MACS = 4_000_000


def _batch_limit() -> int:
    """How many shadow models train in one stack: ``$PRIVBENCH_BATCHED_SHADOWS`` (0 = off), default 32."""
    import os

    raw = os.environ.get(BATCH_ENV, "").strip()
    if not raw:
        return 32
    try:
        return max(0, int(raw))
    except ValueError:
        return 0 if raw.lower() in ("off", "false", "no") else 32


def _training_identity(defense: Defense) -> dict[str, Any]:
    """What of a defense shapes the models it trains: serving-only defenses train exactly the baseline's models."""
    cls = type(defense)
    if cls.train is Defense.train and cls.adapt_recipe is Defense.adapt_recipe:
        return {"name": "none", "params": {}, "version": "1"}  # the key ``none`` has always had: caches stay valid
    return {"name": defense.name, "params": defense.params, "version": defense.version}


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
        shadow_source: "_ShadowSource",
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
        values = np.asarray(values)
        if len(values) != len(self.candidates):
            raise ValueError(f"export {name!r} has {len(values)} values for {len(self.candidates)} candidates")
        self.exports[name] = values


class _ShadowSource:
    """Builds shadow sets from the public pool (candidates ∪ population units); holds no membership."""

    def __init__(self, factory: ModelFactory, track: "Track", candidate_units: np.ndarray, population_units: np.ndarray, seed: int, train_size: int, max_shadows: int):
        self._factory = factory
        self._track = track
        self._candidate_units = np.array(candidate_units, copy=True)
        self._population_units = np.array(population_units, copy=True)
        self._seed = int(seed)
        self._train_size = int(train_size)
        self._max_shadows = int(max_shadows)

    def inclusion(self, n: int, online: bool) -> np.ndarray:
        """Balanced IN/OUT matrix: each pool unit is IN for the same number of models (LiRA's scheme)."""
        pool = len(self._population_units) + (len(self._candidate_units) if online else 0)
        size = min(self._train_size, pool)
        n_max = max(n, self._max_shadows)
        rng = np.random.default_rng([self._seed, 1 if online else 0, n_max, 0x5AD0])
        if n_max == 1:
            keep = np.zeros((1, pool), dtype=bool)
            keep[0, rng.choice(pool, size, replace=False)] = True
            return keep
        k = max(1, int(round(n_max * size / pool)))
        order = rng.random((n_max, pool)).argsort(axis=0)
        return (order < k)[:n]

    def shadows(self, n: int, online: bool, ledger: BudgetLedger) -> Shadows:
        from ._cache import spec_key

        if n < 1:
            raise ValueError(f"ask for at least one shadow model, not {n}")
        ledger.check()
        units = np.concatenate([self._candidate_units, self._population_units]) if online else self._population_units
        keep = self.inclusion(n, online)
        factory = self._factory
        seeds = [self._shadow_seed(i, online) for i in range(len(keep))]
        ledger.reserve_shadows([spec_key(factory.spec("shadow", units[row], seed)) for row, seed in zip(keep, seeds)])
        models = []
        for module, meta, cached, trained_now in factory.get_many("shadow", [units[row] for row in keep], seeds):
            ledger.charge_shadow(meta["key"], float(meta["train_seconds"]), trained_now)
            predictor = factory.defense.serve(self._track.predictor(module))
            models.append(ShadowModel(predictor, module, float(meta["train_seconds"]), cached))
        pool = self._track.candidates(factory.data, units)
        return Shadows(models, keep, pool, len(self._candidate_units) if online else 0)

    def _shadow_seed(self, i: int, online: bool) -> int:
        return int(np.random.default_rng([self._seed, i, 1 if online else 0, 0x5AD1]).integers(2**31))
