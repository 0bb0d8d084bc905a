"""The result record as a type: :class:`Record` and its parts, with a JSON round trip and schema versions.

The JSON keys are DESIGN.md's "Result record keys" (contract). A record also reads like that JSON
(``record["attack"]["name"]``, ``set(record["utility"])``), so scripts and hook implementations written
against the dict records keep working; new code reads attributes (``record.attack.name``).

Schema versions: 2 (this one) always writes every key of the contract, ``null`` where a value is unknown
(``track.task`` of a cell whose track did not load, ``utility`` of a failed cell). Version-1 records are
migrated on load (:func:`migrate_v1`); any other version is refused with :class:`RecordError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "READABLE_VERSIONS",
    "STATUSES",
    "RecordError",
    "TrackRef",
    "AttackRef",
    "DefenseRef",
    "BudgetUse",
    "Utility",
    "Provenance",
    "Record",
    "migrate_v1",
    "plain",
    "finite_number",
]

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
STATUSES = ("ok", "failed", "timeout", "over_budget")


class RecordError(ValueError):
    """A result record that cannot be read: an unknown schema version, a missing or unknown key."""


def plain(value: Any) -> Any:
    """``value`` as JSON data: record parts become dicts, numpy scalars and arrays plain numbers and lists."""
    if isinstance(value, _Shaped):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array or scalar, without importing numpy
        return value.tolist()
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):  # enums such as Task
        return value.value
    return value


def finite_number(value: Any) -> bool:
    """A JSON number that is a value: not a bool, a string, NaN, an infinity, nor an integer too large for a float
    (``math.isfinite`` raises on a 400-digit integer: a hand-written ROC point of one stopped every board build)."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class _Shaped(Mapping):
    """Read access in the shape of the record's JSON; equality with any mapping of that shape."""

    def _items(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        return self._items()[key]

    def __iter__(self) -> Any:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def to_dict(self) -> dict[str, Any]:
        return {k: plain(v) for k, v in self._items().items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "a result record") -> Any:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise RecordError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} in {cls.__name__}; "
                              f"known: {', '.join(sorted(names))} (a newer privbench wrote it? upgrade)")
        for f in fields(cls):  # type: ignore[arg-type]
            # the views read each field as its type: a seed "0" beside a seed 1 stopped every board build
            if f.name in data and f.name not in _PARTS and not _fits(data[f.name], str(f.type)):
                raise RecordError(f"{where}: {f.name!r} is {data[f.name]!r:.80}, not {f.type}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise RecordError(f"{where}: {cls.__name__}: {exc}") from None


_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "dict": (Mapping,),
                                       "list": (list,), "None": (type(None),), "Any": (object,)}


def _fits(value: Any, annotation: str) -> bool:
    """Whether ``value`` (parsed JSON) is of the field's annotation, read from its text (``int | None``,
    ``list[dict[str, Any]] | None``): bools are not numbers, a list's items are checked one level down."""
    for option in annotation.split(" | "):
        base, _, inner = option.partition("[")
        if base not in _KINDS:  # a record part (TrackRef): checked by its own from_dict
            return True
        if isinstance(value, bool) and base in ("int", "float"):
            continue
        if isinstance(value, _KINDS[base]):
            if base == "list" and inner:
                item = inner[:-1]
                return all(_fits(v, item) for v in value)
            return True
    return False


@dataclass(frozen=True, eq=False)
class TrackRef(_Shaped):
    name: str
    version: str | None = None
    split_sha256: str | None = None
    task: str | None = None  # None: the track did not load
    split_seed: int | None = None  # official runs only: the seed drawn at run time, written after the scores returned


@dataclass(frozen=True, eq=False)
class AttackRef(_Shaped):
    name: str
    params: dict[str, Any] = field(default_factory=dict)  # resolved (defaults included) once the plugin loaded
    plugin: str | None = None
    version: str | None = None
    threat_model: str | None = None  # attacks only: label | scores | timing | embeddings | whitebox (boards split by it)


@dataclass(frozen=True, eq=False)
class DefenseRef(AttackRef):
    report: dict[str, Any] = field(default_factory=dict)  # what the defense reports about its training (DP-SGD's ε)
    adaptive_shadows: bool | None = None  # shadow models trained with the defense too (None: unknown, the track never loaded)


@dataclass(frozen=True, eq=False)
class BudgetUse(_Shaped):
    tier: str
    limits: dict[str, Any] = field(default_factory=dict)
    used: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Utility(_Shaped):
    train_accuracy: float | None = None
    test_accuracy: float | None = None


@dataclass(frozen=True, eq=False)
class Provenance(_Shaped):
    privbench_version: str | None = None
    git_commit: str | None = None
    python: str | None = None
    torch: str | None = None
    device: str | None = None
    libraries: dict[str, Any] | None = None  # versions of the libraries that compute the numbers
    plugins: dict[str, Any] | None = None  # track/attack/defense: plugin, distribution, its version, the plugin's version


_PARTS: dict[str, type[_Shaped]] = {
    "track": TrackRef, "attack": AttackRef, "defense": DefenseRef, "budget": BudgetUse, "utility": Utility, "provenance": Provenance,
}
_OPTIONAL = ("scores_file", "scenarios", "isolation", "official", "per_target", "design", "epsilon", "identity")  # written only when set


@dataclass(frozen=True, eq=False)
class Record(_Shaped):
    """One (track, defense, attack, seed) cell's result. Build it with :mod:`bench._records`' helpers."""

    run_id: str
    track: TrackRef
    attack: AttackRef
    defense: DefenseRef
    seed: int
    budget: BudgetUse
    status: str
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    utility: Utility = field(default_factory=Utility)
    provenance: Provenance = field(default_factory=Provenance)
    created_at: str | None = None
    scores_file: str | None = None  # relative to the run folder; set once the scores are saved
    scenarios: dict[str, Any] | None = None  # the OOD / neighbour scenario note, where scenarios ran
    isolation: dict[str, Any] | None = None  # how the attack ran: {mode: process|thread, sandbox, sandboxed}
    official: bool | None = None  # an official run: split drawn at run time, cold private cache
    per_target: list[dict[str, Any]] | None = None  # pool design: auc, tpr@0.1%fpr, tpr@1%fpr of each target
    design: dict[str, Any] | None = None  # pool design: models, targets, pool and population sizes, sha256
    epsilon: dict[str, Any] | None = None  # pool design: the empirical ε lower bound and what it assumed
    identity: dict[str, Any] | None = None  # what the run id hashes beside the cell's names (bench._identity)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RecordError(f"record {self.run_id[:12]}: status {self.status!r} is not one of {', '.join(STATUSES)}")

    def _items(self) -> dict[str, Any]:
        items = super()._items()
        return {k: v for k, v in items.items() if not (k in _OPTIONAL and v is None)}

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def task(self) -> str:
        """The track's task; records that predate tasks other than classification name none."""
        return self.track.task or "classification"

    def label(self) -> str:
        return f"{self.track.name}/{self.defense.name}/{self.attack.name}/seed{self.seed}"

    def metric(self, key: str) -> float | None:
        """A metric's value (None when absent or not a number)."""
        v = self.metrics.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def replace(self, **changes: Any) -> "Record":
        return replace(self, **changes)

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, where: str = "a result record") -> "Record":
        import json

        return cls.from_dict(json.loads(text), where)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "a result record") -> "Record":
        """A record from its JSON form, migrating older schema versions; ``where`` names it in errors."""
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: a result record is a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version == 1:
            bad = [k for k in ("track", "defense", "utility") if not isinstance(data.get(k) or {}, Mapping)]
            if bad:  # migrate_v1 reads them as objects
                raise RecordError(f"{where}: {bad[0]!r} must be an object, got {type(data[bad[0]]).__name__}")
            data = migrate_v1(data)
        elif version != SCHEMA_VERSION:
            raise RecordError(f"{where}: schema_version {version!r} is not one this privbench reads "
                              f"({', '.join(map(str, READABLE_VERSIONS))}); a newer privbench wrote it? upgrade privbench")
        missing = [k for k in ("run_id", "track", "attack", "defense", "seed", "budget", "status") if k not in data]
        if missing:
            raise RecordError(f"{where}: missing key(s) {', '.join(missing)}")
        parts = {}
        for key, value in data.items():
            if key in _PARTS:
                if not isinstance(value, Mapping):
                    raise RecordError(f"{where}: {key!r} must be an object, got {type(value).__name__}")
                value = _PARTS[key].from_dict(value, f"{where} ({key})")
            parts[key] = value
        return super().from_dict(parts, where)


def migrate_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A version-1 record as version 2: the keys v1 left out where unknown are written, ``null`` or empty.

    v1 records without ``track.task`` come from loaded tracks before other tasks existed (classification),
    or from cells whose track failed to load (no version: task unknown).
    """
    out = {k: v for k, v in data.items()}
    out["schema_version"] = 2
    track = dict(out.get("track") or {})
    if "task" not in track:
        track["task"] = "classification" if track.get("version") is not None else None
    out["track"] = track
    defense = dict(out.get("defense") or {})
    defense.setdefault("report", {})
    defense.setdefault("adaptive_shadows", None)
    out["defense"] = defense
    out["utility"] = {"train_accuracy": None, "test_accuracy": None, **(out.get("utility") or {})}
    out.setdefault("error", None)
    out.setdefault("metrics", {})
    return out
