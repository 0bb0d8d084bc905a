"""``early-stopping``: stop training before the model memorizes its training set.

Two modes:

* ``fraction`` set (e.g. 0.25): train for that fraction of the recipe's epochs (deterministic, no data held out);
* ``fraction`` null (default): validate on population data the harness draws beside the training set
  (``val_fraction`` × its size, ``trainer.reference``; disjoint from the members and from the target's
  non-members), train on every member, keep the weights of the epoch with the lowest validation loss and stop
  after ``patience`` epochs without improvement. (Version 1 held 10 % of the members out for validation and was
  scored on them as members.)
"""

import math

from bench import Defense, FitHooks, TrainedModel, hookimpl, reference_count, require_reference


class EarlyStopping(Defense):
    name = "early-stopping"
    version = "2"  # 2: validation data from the population, not from the members
    changes_training = True
    params = {"fraction": None, "patience": 3, "val_fraction": 0.1}

    def reference_size(self, train_size):
        return 0 if self.params["fraction"] is not None else reference_count(self.params["val_fraction"], train_size, who="early-stopping")

    def adapt_recipe(self, recipe):
        frac = self.params["fraction"]
        if frac is None:
            return recipe
        if not 0 < float(frac) <= 1:
            raise ValueError(f"early-stopping: fraction must be in (0, 1], not {frac}")
        return recipe.replace(epochs=max(1, math.ceil(float(frac) * recipe.epochs)))

    def train(self, trainer, data):
        if self.params["fraction"] is not None:
            return trainer.fit(data)
        import time

        start = time.perf_counter()
        val = require_reference(trainer, "early-stopping")
        watch = _BestEpoch(val, int(self.params["patience"]))
        trained = trainer.fit(data, model=trainer.build_model(), hooks=watch)
        trained.module.load_state_dict(watch.state)
        trained.module.eval()
        extras = {"best_epoch": watch.epoch + 1, "stopped_early": watch.stopped, "val_loss": round(watch.best_loss, 6), "n_validation": len(val)}
        return TrainedModel(trained.module, time.perf_counter() - start, extras)


class _BestEpoch(FitHooks):
    """After each epoch: the validation loss; keeps the best weights, stops after ``patience`` epochs without improvement."""

    def __init__(self, val, patience):
        self.val, self.patience = val, patience
        self.best_loss, self.epoch, self.state, self.stopped = math.inf, -1, None, False

    def after_epoch(self, epoch, model):
        import copy

        import torch

        from bench.training import predict_logits

        logits = torch.as_tensor(predict_logits(model, self.val.x))
        loss = float(torch.nn.functional.cross_entropy(logits, torch.as_tensor(self.val.y)))
        model.train()  # predict_logits switched to eval mode
        if loss < self.best_loss:
            self.best_loss, self.epoch, self.state = loss, epoch, copy.deepcopy(model.state_dict())
        elif epoch - self.epoch >= self.patience:
            self.stopped = True
        return self.stopped


@hookimpl
def register_defenses(register):
    register(EarlyStopping)
