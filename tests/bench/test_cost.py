"""Machine-independent training cost (bench._cost): steps and model FLOPs from a model's spec, charged at a reference rate."""

import torch

from bench import Budget
from bench._context import BudgetLedger
from bench._cost import FLOPS, STEP_SECONDS, training_cost


def _spec(units=100, epochs=3, batch=32):
    return {"recipe": {"arch": "mlp", "epochs": epochs, "batch_size": batch}, "n_units": units}


def test_cost_counts_steps_examples_and_palm_model_flops():
    module = torch.nn.Linear(10, 4)  # 44 parameters
    cost = training_cost(_spec(), module)
    assert cost.steps == 3 * 4 and cost.examples == 300 and cost.flops == 6 * 44 * 300
    assert cost.reference_seconds("cpu") == 12 * STEP_SECONDS["cpu"] + 6 * 44 * 300 / FLOPS["cpu"]
    assert cost.reference_seconds("cuda:0") < cost.reference_seconds("cpu")
    assert training_cost({"recipe": None, "n_units": 5}, module) is None  # e.g. a spaCy pipeline: recorded seconds
    assert training_cost(_spec(), object()) is None


def test_the_same_model_is_charged_the_same_whatever_its_recorded_seconds():
    budget = Budget("t", max_shadows=2, queries_per_candidate=1, device_seconds=1e6)
    cost = training_cost(_spec(), torch.nn.Linear(10, 4))
    quiet, loaded = BudgetLedger(budget, 10), BudgetLedger(budget, 10)
    quiet.charge_shadow("k", recorded_seconds=1.0, trained_now_seconds=0.0, cost=cost)
    loaded.charge_shadow("k", recorded_seconds=2.5, trained_now_seconds=0.0, cost=cost)  # trained on a busy machine
    a, b = quiet.used(), loaded.used()
    assert a["shadow_seconds_charged"] == b["shadow_seconds_charged"] == round(cost.reference_seconds("cpu"), 3)
    assert (a["shadow_seconds_recorded"], b["shadow_seconds_recorded"]) == (1.0, 2.5)
    assert a["shadow_steps"] == b["shadow_steps"] == cost.steps
    legacy = BudgetLedger(budget, 10)
    legacy.charge_shadow("k", recorded_seconds=2.5, trained_now_seconds=0.0)  # no cost known: its recorded seconds
    assert legacy.used()["shadow_seconds_charged"] == 2.5 and legacy.used()["shadow_steps"] == 0
