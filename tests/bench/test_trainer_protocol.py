"""The trainer protocol (bench._trainer_protocol) is importable from bench without torch, and its hooks default to no-ops."""

import subprocess
import sys

from bench import FitHooks, FitLoop, FitStep, ModelTrainer


def test_the_protocol_is_exported_without_importing_torch():
    code = "import sys, bench; assert bench.ModelTrainer and bench.FitHooks and bench.hold_out; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_hooks_change_nothing():
    loop = FitLoop(model="m", optimizer="o", loss_fn=len, batches=lambda e: iter(()), steps_per_epoch=1, inputs=[], targets=[], generator=None)
    hooks = FitHooks()
    assert hooks.setup(loop) is loop
    step = FitStep(0, 0, loop, [1], [0])
    assert hooks.before_step(step) is None
    assert hooks.training_loss(step, outputs=None, loss=3.0) == 3.0
    assert hooks.after_epoch(0, "m") is False


def test_an_object_without_fit_is_not_a_trainer():
    class NotATrainer:
        recipe = seed = device = num_classes = progress = None

    assert not isinstance(NotATrainer(), ModelTrainer)
