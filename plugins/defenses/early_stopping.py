"""``early-stopping``: stop training before the model memorizes its training set.

Two modes:

* ``fraction`` set (e.g. 0.25): train for that fraction of the recipe's epochs (deterministic, no data held out);
* ``fraction`` null (default): hold out ``val_fraction`` of the *training data* as a validation split (the recipe's
  own data; no target non-members are used), train on the rest, keep the weights of the epoch with the lowest
  validation loss and stop after ``patience`` epochs without improvement. The held-out members are never trained on.
"""

import math

from bench import Defense, hookimpl


class _Stop(Exception):
    """Raised from the epoch callback to end training."""


class EarlyStopping(Defense):
    name = "early-stopping"
    params = {"fraction": None, "patience": 3, "val_fraction": 0.1}

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
        import copy
        import time

        import numpy as np
        import torch

        from bench.training import TrainedModel, predict_logits

        start = time.perf_counter()
        rng = np.random.default_rng([trainer.seed, 0xE5])
        order = rng.permutation(len(data))
        n_val = max(1, int(round(float(self.params["val_fraction"]) * len(data))))
        val, fit_part = data[np.sort(order[:n_val])], data[np.sort(order[n_val:])]
        model = trainer.build_model()
        best = {"loss": math.inf, "epoch": -1, "state": None}
        patience = int(self.params["patience"])

        def on_epoch(epoch, module):
            logits = torch.as_tensor(predict_logits(module, val.x))
            loss = float(torch.nn.functional.cross_entropy(logits, torch.as_tensor(val.y)))
            module.train()  # predict_logits switched to eval mode
            if loss < best["loss"]:
                best.update(loss=loss, epoch=epoch, state=copy.deepcopy(module.state_dict()))
            elif epoch - best["epoch"] >= patience:
                raise _Stop

        stopped = trainer.recipe.epochs - 1
        try:
            trainer.fit(fit_part, model=model, on_epoch=on_epoch)
        except _Stop:
            stopped = None
        model.load_state_dict(best["state"])
        model.eval()
        extras = {"best_epoch": best["epoch"] + 1, "stopped_early": stopped is None, "val_loss": round(best["loss"], 6), "n_validation": n_val}
        return TrainedModel(model, time.perf_counter() - start, extras)


@hookimpl
def register_defenses(register):
    register(EarlyStopping)
