"""The trainer's fit loop (bench._trainer) and its hooks: every trainer implements bench.ModelTrainer."""

import numpy as np
import pytest
import torch

from bench import Dataset, FitHooks, ModelTrainer, Recipe
from bench.training import Trainer, make_optimizer

RECIPE = Recipe("mlp", {"hidden": [16]}, epochs=4, batch_size=16, lr=0.1)


def _data(n=96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, 4, 4)).astype(np.float32)
    return Dataset(x=x, y=(x.sum(axis=(1, 2, 3)) > 0).astype(np.int64))


def _trainer(seed=0, recipe=RECIPE, progress=None):
    return Trainer(recipe, input_shape=(1, 4, 4), num_classes=2, seed=seed, progress=progress)


def _weights(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


class Recorder(FitHooks):
    def __init__(self, stop_after=None):
        self.steps, self.epochs, self.stop_after = [], [], stop_after

    def before_step(self, step):
        self.steps.append((step.epoch, step.step, len(step.inputs), step.loop.steps_per_epoch))

    def after_epoch(self, epoch, model):
        self.epochs.append(epoch)
        return self.stop_after is not None and epoch >= self.stop_after


def test_hooks_see_every_step_and_can_stop_training():
    seen = []
    hooks = Recorder(stop_after=1)
    _trainer(progress=lambda done, total: seen.append((done, total))).fit(_data(), hooks=hooks)
    assert hooks.epochs == [0, 1]  # stopped after the second epoch of four
    assert [s[:2] for s in hooks.steps] == [(e, i) for e in range(2) for i in range(6)]
    assert {s[2] for s in hooks.steps} == {16} and {s[3] for s in hooks.steps} == {6}
    assert seen == [(1, 4)]  # progress reported for the epochs that completed without a stop


def test_on_epoch_returning_true_stops_like_a_hook():
    calls = []
    _trainer().fit(_data(), on_epoch=lambda epoch, model: calls.append(epoch) or epoch == 2)
    assert calls == [0, 1, 2]


class Shrink(FitHooks):
    """A regularizer through ``training_loss``: a large L2 penalty on the weights."""

    def training_loss(self, step, outputs, loss):
        return loss + 10.0 * sum((p**2).sum() for p in step.loop.model.parameters())


def test_training_loss_hook_changes_what_is_minimised():
    plain, shrunk = _trainer().fit(_data()), _trainer().fit(_data(), hooks=Shrink())
    assert _weights(shrunk.module).norm() < 0.5 * _weights(plain.module).norm()


class FirstHalfOnly(FitHooks):
    """``setup`` replaces the loop's batches: each epoch sees only the first 48 rows, in order."""

    def setup(self, loop):
        import dataclasses

        return dataclasses.replace(loop, batches=lambda epoch: iter([(loop.inputs[i : i + 16], loop.targets[i : i + 16]) for i in range(0, 48, 16)]))


def test_setup_can_replace_the_batches():
    d, constant = _data(), RECIPE.replace(schedule="constant")  # constant: the schedule's length does not matter
    replaced = _trainer(recipe=constant).fit(d, hooks=FirstHalfOnly())
    plain = _trainer(recipe=constant).fit(d)
    assert not torch.equal(_weights(replaced.module), _weights(plain.module))
    first = _trainer(recipe=constant).fit(d[np.arange(48)], hooks=FirstHalfOnly())  # only the first 48 rows matter
    assert torch.equal(_weights(replaced.module), _weights(first.module))


def test_hooks_without_overrides_change_nothing_and_same_seed_same_weights():
    a, b = _trainer().fit(_data()), _trainer().fit(_data(), hooks=FitHooks())
    assert torch.equal(_weights(a.module), _weights(b.module))
    c = _trainer().reseeded(1).fit(_data())
    assert not torch.equal(_weights(a.module), _weights(c.module))
    assert isinstance(_trainer(), ModelTrainer)


def test_soft_targets_train_towards_them():
    d = _data()
    flipped = np.eye(2, dtype=np.float32)[1 - d.y]
    trained = _trainer(recipe=RECIPE.replace(epochs=20)).fit(d, targets=flipped)
    pred = trained.module(torch.as_tensor(d.x)).argmax(1).numpy()
    assert (pred != d.y).mean() > 0.9


def test_optimizers_by_name():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, RECIPE.replace(optimizer="adam")), torch.optim.Adam)
    assert isinstance(make_optimizer(params, RECIPE.replace(optimizer="adamw")), torch.optim.AdamW)
    sgd = make_optimizer(params, RECIPE.replace(weight_decay=0.01))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'.*sgd | adam | adamw"):
        make_optimizer(params, RECIPE.replace(optimizer="rmsprop"))


def test_the_multimodal_trainer_implements_the_protocol_and_refuses_soft_targets():
    from plugins.tracks._mm_models import MultimodalTrainer, SmallCLIP

    recipe = Recipe("small-clip", {}, epochs=2, batch_size=4, lr=1e-3, optimizer="adam", schedule="constant")
    trainer = MultimodalTrainer(recipe, lambda: SmallCLIP((1, 4, 4), dim=8, hidden=16), seed=0)
    assert isinstance(trainer, ModelTrainer)
    assert type(trainer.optimizer(trainer.build_model())) is torch.optim.Adam  # "adam" is Adam, as in Trainer
    data = Dataset(image=np.random.default_rng(0).normal(size=(8, 1, 4, 4)).astype(np.float32), caption=[f"p{i % 4}" for i in range(8)])
    hooks = Recorder()
    trained = trainer.fit(data, hooks=hooks)
    assert hooks.epochs == [0, 1] and len(hooks.steps) == 4 and trained.module.training is False
    with pytest.raises(ValueError, match="soft targets"):
        trainer.fit(data, targets=np.zeros((8, 2)))
