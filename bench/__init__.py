"""privbench's harness: the public API for attack, defense and track plugins.

Importing ``bench`` never imports torch; ``bench.training`` (the training-recipe helper) does. The Python API
(``bench.run``, ``bench.audit_model``, ``bench.Results``) is imported on first use.
"""

from ._api import (
    Attack,
    Budget,
    BudgetExceeded,
    Candidates,
    Dataset,
    Defense,
    PluginError,
    Predictor,
    Task,
    ThreatModel,
    ThreatModelViolation,
    TrackInfo,
)
from ._array_track import ArrayTrack, track_from_arrays, track_from_hf
from ._context import AttackContext, Shadows, ShadowModel, TargetOracle
from ._holdout import hold_out, random_parts, reference_count, require_reference
from ._markers import hookimpl, hookspec
from ._recipe import Recipe
from ._record import Record, RecordError
from ._track import DEFAULT_BUDGETS, Split, Track
from ._trainer_protocol import ROW_FIELD, FitHooks, FitLoop, FitStep, ModelTrainer, TrainedModel

_LAZY = {"run": "api", "audit_model": "api", "Results": "api", "CellScores": "api", "RocCurve": "api"}  # import the runner on use


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "hookimpl",
    "ArrayTrack",
    "audit_model",
    "CellScores",
    "Results",
    "RocCurve",
    "run",
    "track_from_arrays",
    "track_from_hf",
    "hookspec",
    "Attack",
    "AttackContext",
    "Budget",
    "BudgetExceeded",
    "Candidates",
    "Dataset",
    "DEFAULT_BUDGETS",
    "Defense",
    "FitHooks",
    "FitLoop",
    "FitStep",
    "hold_out",
    "ModelTrainer",
    "ROW_FIELD",
    "PluginError",
    "Predictor",
    "random_parts",
    "reference_count",
    "require_reference",
    "Recipe",
    "Record",
    "RecordError",
    "ShadowModel",
    "Shadows",
    "Split",
    "TargetOracle",
    "Task",
    "ThreatModel",
    "ThreatModelViolation",
    "TrainedModel",
    "Track",
    "TrackInfo",
]
