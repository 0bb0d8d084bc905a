"""The model layer: trains or loads the models of one (track, defense, seed), content-addressed, once each.

A model's cache key is the sha256 of its spec: track (name, version, split), the recipe the defense trains
with, the defense's ``training_identity()``, role, training units, the defender's reference units (where the
defense trains with any) and seed. How the models train (one at a time, or stacked with
``bench.training.fit_many``) follows what the track and the defense *declare* (``Track.batchable``,
``Defense.changes_training``/``batchable``), never which methods they override.

A defense's reference data (``Defense.reference_size``) are population units outside the model's training set,
drawn from the model's seed: the same rule for targets and shadows, never members. Each model's meta records
the rows its trainer fitted (``fitted_rows``); serving state a defense fits per model (``Defense.prepare``, e.g.
MemGuard's defender) is attached to the loaded meta as ``prepared`` and memoized in memory per model.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._api import Dataset, Defense, PluginError, Predictor
from ._trainer_protocol import ROW_FIELD

if TYPE_CHECKING:  # pragma: no cover
    from ._cache import ModelCache
    from ._track import Track

__all__ = ["ModelFactory", "check_declarations", "batch_limit", "serve", "private", "BATCH_ENV", "CPU_STACK_MAX_MACS"]

BATCH_ENV = "PRIVBENCH_BATCHED_SHADOWS"
# Multiply-accumulates of one model's minibatch step (≈ parameters × batch size) above which a CPU is
# compute-bound and stacking models no longer saves time (measured on 2 cores at 2 threads, before runs were pinned
# to one: digits' MLP, 0.3M: 4.5x faster stacked; fashion-mnist's MLP, 52M: 0.75x).
CPU_STACK_MAX_MACS = 4_000_000

# (module, meta, cached, seconds spent training it now)
Loaded = tuple[Any, dict[str, Any], bool, float]


def batch_limit() -> int:
    """How many shadow models train in one stack: ``$PRIVBENCH_BATCHED_SHADOWS`` (0 = off), default 32."""
    raw = os.environ.get(BATCH_ENV, "").strip()
    if not raw:
        return 32
    try:
        return max(0, int(raw))
    except ValueError:
        return 0 if raw.lower() in ("off", "false", "no") else 32


def serve(defense: Defense, predictor: Predictor, prepared: Any = None) -> Predictor:
    """The served predictor of one model: ``defense.serve`` with what ``prepare`` fitted for it, if anything."""
    return defense.serve(predictor) if prepared is None else defense.serve(predictor, prepared)


def private(prepared: Any) -> Any:
    """A copy of a model's serving state for one server (one attack run's target or shadow): what that server is
    asked (MemGuard's memoised answers) stays with it, never in the state later runs and attack workers receive."""
    import copy

    return None if prepared is None else copy.deepcopy(prepared)


def check_declarations(defense: Defense, recipe: Any) -> None:
    """Refuse a defense whose declaration says it trains the baseline's models while it does not.

    Such a defense would share ``none``'s cached weights while training something else.
    """
    if defense.changes_training:
        return
    import copy

    changed = recipe is not None and defense.adapt_recipe(copy.deepcopy(recipe)) != recipe
    if changed or type(defense).train is not Defense.train or "train" in vars(defense):
        what = "changes the training recipe" if changed else "overrides train()"
        raise PluginError(
            f"defense {defense.name!r} {what} but declares changes_training = False, so its models would be"
            f" cached as the undefended baseline's; set changes_training = True on {type(defense).__name__}"
        )


class ModelFactory:
    """Trains or loads the models of one (track, defense, seed), each exactly once (content-addressed)."""

    # Serving state fitted per model (``Defense.prepare``), by (model key, defense identity): fitted once per process.
    _prepared: dict[str, Any] = {}
    PREPARED_MAX = 512

    def __init__(self, track: "Track", data: Dataset, split_sha256: str, defense: Defense, cache: "ModelCache", device: str = "cpu",
                 progress: Callable[[str], Any] | None = None, population: np.ndarray | None = None):
        """``population``: the units a defense's reference data is drawn from (disjoint from every model's pool)."""
        check_declarations(defense, getattr(track, "recipe", None))
        self.track = track
        self.data = data
        self.split_sha256 = split_sha256
        self.defense = defense
        self.cache = cache
        self.device = device
        self.progress = progress
        self.population = None if population is None else np.sort(np.asarray(population, dtype=np.int64))

    def reference_units(self, units: np.ndarray, seed: int) -> np.ndarray:
        """The defender's reference units of the model trained on ``units``: ``Defense.reference_size`` of them
        (at most what the population holds outside ``units``), drawn from the model's seed."""
        want = int(self.defense.reference_size(len(units)))
        if want <= 0:
            return np.zeros(0, dtype=np.int64)
        if self.population is None:
            raise PluginError(f"defense {self.defense.name!r} needs {want} reference examples from the population, but the"
                              " model layer was given no population units (ModelFactory(population=...))")
        free = np.setdiff1d(self.population, np.asarray(units, dtype=np.int64))
        if len(free) == 0:
            raise PluginError(f"defense {self.defense.name!r} needs reference data, but the population has no unit outside the model's training set")
        rng = np.random.default_rng([int(seed), 0x5EF])
        return np.sort(rng.choice(free, min(want, len(free)), replace=False))

    def _rows_data(self, units: np.ndarray) -> Dataset:
        """The data of some units, each row carrying its row id (``ROW_FIELD``) so trainers can log what they fit."""
        rows = np.asarray(self.track.training_rows(self.data, np.asarray(units)))
        view = self.data[rows]
        return Dataset(**{f: getattr(view, f) for f in view.fields if f != ROW_FIELD}, **{ROW_FIELD: rows})

    def reference_data(self, units: np.ndarray, seed: int) -> Dataset | None:
        ref = self.reference_units(units, seed)
        return self._rows_data(ref) if len(ref) else None

    def recipe(self) -> Any:
        """The recipe the models train with (the track's, as the defense adapts it), or None for recipe-less tracks."""
        recipe = getattr(self.track, "recipe", None)
        return self.defense.adapt_recipe(recipe) if recipe is not None else None

    def spec(self, role: str, units: np.ndarray, seed: int) -> dict[str, Any]:
        recipe = self.recipe()
        return {
            "track": {"name": self.track.name, "version": self.track.version, "split_sha256": self.split_sha256},
            "recipe": recipe.spec() if recipe is not None else None,
            "defense": self.defense.training_identity(),
            "role": role,
            "units_sha256": _sha(units),
            "n_units": int(len(units)),
            "seed": int(seed),
            **self._reference_spec(units, seed),
        }

    def _reference_spec(self, units: np.ndarray, seed: int) -> dict[str, Any]:
        """The reference units a training defense trains with, in the cache key (none: the key stays as it was)."""
        if not self.defense.changes_training:
            return {}
        ref = self.reference_units(units, seed)
        return {"reference_sha256": _sha(ref), "n_reference": int(len(ref))} if len(ref) else {}

    def key(self, role: str, units: np.ndarray, seed: int) -> str:
        from ._cache import spec_key

        return spec_key(self.spec(role, units, seed))

    def get(self, role: str, units: np.ndarray, seed: int) -> tuple[Any, dict[str, Any], bool]:
        """(module, meta, cached): meta holds ``key``, ``train_seconds`` and the defense's report."""
        from ._cache import spec_key

        spec = self.spec(role, units, seed)
        key = spec_key(spec)
        with self.cache.lock(key):  # another worker training this model: wait, then load it
            hit = self.cache.load(key, lambda: self.track.build_module(self.defense))
            if hit is not None:
                module, meta, cached = hit[0].to(self.device), hit[1], True
            else:
                (module, meta), cached = self._train_one(role, units, seed, spec, key), False
        meta["prepared"] = self.prepare(module, meta, units, seed)
        return module, meta, cached

    def get_many(self, role: str, units: list[np.ndarray], seeds: list[int]) -> list[Loaded]:
        """(module, meta, cached, seconds trained now) per (units, seed): cache hits loaded, misses trained together where possible.

        Workers sharing the cache (local slots, Ray tasks) split a group's models: each claims the models no other
        worker holds, a stack (or one) at a time, then waits for the others' and loads them (training any whose
        trainer died). Under one lock over the whole group a second slot sat idle while the first trained it all."""
        from ._cache import spec_key

        specs = [self.spec(role, u, s) for u, s in zip(units, seeds)]
        keys = [spec_key(spec) for spec in specs]
        out: list[Any] = [None] * len(seeds)
        stack = self.batchable()
        width = max(1, batch_limit()) if stack else 1
        pending, waiting = list(range(len(keys))), []
        while pending:
            with contextlib.ExitStack() as held:
                chunk, pending = self._claim_misses(keys, pending, width, out, waiting, held)
                self._train(role, units, seeds, [(i, specs[i], keys[i]) for i in chunk], out, stack)
        if waiting:  # what the others trained, loaded (or trained here, where its trainer died)
            with self.cache.lock(*(keys[i] for i in waiting)):
                misses = [(i, specs[i], keys[i]) for i in waiting if not self._load(keys[i], i, out)]
                self._train(role, units, seeds, misses, out, stack)
        for (module, meta, _, _), u, seed in zip(out, units, seeds):
            meta["prepared"] = self.prepare(module, meta, u, seed)
        return out

    def _claim_misses(self, keys: list[str], pending: list[int], width: int, out: list[Any], waiting: list[int],
                      held: contextlib.ExitStack) -> tuple[list[int], list[int]]:
        """Up to ``width`` of ``pending``'s misses, claimed (their claims moved into ``held``), and the pending left.

        Hits are loaded under their own claim, released at once: a claimed stack holds misses only, so a partly cached
        group's misses stack batch_limit() at a time as under one lock over the group (a hit in a stack shrank it),
        and no worker waits for a model that is already cached. Models another worker holds go to ``waiting``."""
        chunk = []
        for n, i in enumerate(pending):
            if len(chunk) == width:
                return chunk, pending[n:]
            with contextlib.ExitStack() as mine:
                if not mine.enter_context(self.cache.claim(keys[i])):
                    waiting.append(i)  # another worker is training it
                elif not self._load(keys[i], i, out):
                    held.enter_context(mine.pop_all())
                    chunk.append(i)
        return chunk, []

    def _load(self, key: str, i: int, out: list[Any]) -> bool:
        hit = self.cache.load(key, lambda: self.track.build_module(self.defense))
        if hit is not None:
            out[i] = (hit[0].to(self.device), hit[1], True, 0.0)
        return hit is not None

    def _train(self, role: str, units: list[np.ndarray], seeds: list[int], misses: list[tuple[int, dict, str]], out: list[Any],
               stack: bool) -> None:
        """Train the ``misses`` (their locks held) into ``out``: stacked, batch_limit() at a time, where they can be."""
        if misses and stack:
            for j in range(0, len(misses), batch_limit()):
                self._train_stack(role, units, seeds, misses[j : j + batch_limit()], out)
        else:
            for i, spec, key in misses:
                t0 = time.perf_counter()
                module, meta = self._train_one(role, units[i], seeds[i], spec, key)
                out[i] = (module, meta, False, time.perf_counter() - t0)

    def prepare(self, module: Any, meta: dict[str, Any], units: np.ndarray, seed: int) -> Any:
        """What the defense fits for serving this model (``Defense.prepare``), fitted once per process and model.

        The defense sees the model's own training data and its reference data; a shadow gets its own, as the
        attacker would fit it."""
        if not self.defense.prepares:
            return None
        ident = repr(sorted(self.defense.params.items()))
        memo = f"{meta['key']}:{self.defense.name}:{self.defense.version}:{ident}"
        if memo not in self._prepared:
            members = self._rows_data(np.asarray(units))
            prepared = self.defense.prepare(self.track.predictor(module), members, self.reference_data(units, seed), int(seed))
            if len(self._prepared) >= self.PREPARED_MAX:
                self._prepared.pop(next(iter(self._prepared)))
            self._prepared[memo] = prepared
        return self._prepared[memo]

    def batchable(self) -> bool:
        """Whether models of this (track, defense) train stacked (``bench.training.fit_many``).

        Only where both declare it: the track (``Track.batchable``: it trains with the base trainer from its
        recipe) and the defense (``changes_training`` False, or ``batchable``: its training is a recipe change),
        and the recipe's architecture stacks. On a CPU, stacking only pays where per-step overhead dominates:
        a model whose minibatch step is compute-bound (e.g. fashion-mnist's 784-512-10 MLP on 2 cores: 0.75x
        measured) trains one at a time. ``PRIVBENCH_BATCHED_SHADOWS=0`` turns stacking off; a positive value
        forces it (and sets the stack size).
        """
        from .training import batchable

        recipe = self.recipe()
        declared = self.track.batchable and (not self.defense.changes_training or self.defense.batchable)
        if recipe is None or batch_limit() == 0 or not declared or not batchable(recipe):
            return False
        if str(self.device).startswith("cpu") and not os.environ.get(BATCH_ENV, "").strip():
            n_params = sum(p.numel() for p in self.track.build_module(self.defense).parameters())
            return n_params * recipe.batch_size <= CPU_STACK_MAX_MACS
        return True

    def _train_one(self, role: str, units: np.ndarray, seed: int, spec: dict[str, Any], key: str) -> tuple[Any, dict[str, Any]]:
        reference = self.reference_data(units, seed) if self.defense.changes_training else None
        extra = {"reference": reference} if reference is not None else {}  # tracks that override train() without it still train
        bar = self.progress(f"train {role}") if self.progress else None
        try:
            trained = self.track.train(self._rows_data(units), self.defense, seed=seed, device=self.device, progress=bar, **extra)
        finally:
            _close(bar)
        meta = {"spec": spec, "train_seconds": trained.train_seconds, "defense_report": self.defense.report(trained),
                "fitted_rows": _row_list(getattr(trained, "fitted", None))}
        module = getattr(trained.module, "_module", trained.module)  # unwrap e.g. Opacus' GradSampleModule
        self.cache.save(key, module, meta)
        meta["key"] = key
        return module, meta

    def _train_stack(self, role: str, units: list[np.ndarray], seeds: list[int], chunk: list[tuple[int, dict, str]], out: list[Any]) -> None:
        from .training import fit_many

        t0 = time.perf_counter()
        bar = self.progress(f"train {len(chunk)} {role}s batched") if self.progress else None
        try:
            trained = fit_many(
                self.recipe(),
                self.data,
                [self.track.training_rows(self.data, np.asarray(units[i])) for i, _, _ in chunk],
                [seeds[i] for i, _, _ in chunk],
                input_shape=self.track.input_shape,
                num_classes=self.track.num_classes,
                device=self.device,
                progress=bar,
            )
        finally:
            _close(bar)
        share = (time.perf_counter() - t0) / len(chunk)
        for (i, spec, key), tm in zip(chunk, trained):
            meta = {"spec": spec, "train_seconds": tm.train_seconds, "defense_report": self.defense.report(tm), "batched": len(chunk),
                    "fitted_rows": _row_list(tm.fitted)}
            self.cache.save(key, tm.module, meta)
            meta["key"] = key
            out[i] = (tm.module, meta, False, share)


def _close(bar: Any) -> None:
    if bar is not None and hasattr(bar, "close"):
        bar.close()


def _sha(units: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(units, dtype=np.int64).tobytes()).hexdigest()


def _row_list(rows: Any) -> list[int] | None:
    """The fitted rows as the meta stores them (JSON): sorted unique ints, or None where the trainer logged none."""
    return None if rows is None else np.unique(np.asarray(rows, dtype=np.int64)).tolist()
