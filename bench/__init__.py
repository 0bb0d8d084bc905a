"""privbench's harness: the public API for attack, defense and track plugins.

Importing ``bench`` never imports torch; ``bench.training`` (the training-recipe helper) does.
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
from ._context import AttackContext, Shadows, ShadowModel, TargetOracle
from ._holdout import hold_out, random_parts, reference_count, require_reference
from ._markers import hookimpl, hookspec
from ._recipe import Recipe
from ._record import Record, RecordError
from ._track import DEFAULT_BUDGETS, Split, Track
from ._trainer_protocol import ROW_FIELD, FitHooks, FitLoop, FitStep, ModelTrainer, TrainedModel

__all__ = [
    "hookimpl",
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
