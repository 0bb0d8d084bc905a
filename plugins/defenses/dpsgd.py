"""``dpsgd``: differentially private SGD (Abadi et al. 2016) through Opacus.

Per-example gradients are clipped to ``max_grad_norm`` and Gaussian noise is added, with the noise multiplier
that Opacus' accountant picks to reach the target (ε, δ) over the recipe's epochs under Poisson sampling.
The accountant's final ε is recorded in ``record.defense.report``. ``batch_size``, ``epochs`` and ``lr``
override the recipe's where set (DP-SGD prefers larger batches and fewer epochs); the model must have no
BatchNorm (ours are MLPs / small CNNs).
"""

import dataclasses

from bench import Defense, FitHooks, TrainedModel, hookimpl


class DPSGD(Defense):
    name = "dpsgd"
    version = "1"
    changes_training = True
    params = {
        "epsilon": 1.0,
        "delta": 1e-5,
        "max_grad_norm": 1.0,
        "accountant": "prv",
        "batch_size": 256,
        "epochs": None,  # None: the recipe's
        "lr": None,  # None: the recipe's
        "grad_sample_mode": "ghost",  # ghost clipping: per-example norms without per-example gradients (2-3x faster)
    }

    def adapt_recipe(self, recipe):
        changes = {k: self.params[k] for k in ("batch_size", "epochs", "lr") if self.params[k] is not None}
        changes = {k: (float(v) if k == "lr" else int(v)) for k, v in changes.items()}
        return recipe.replace(**changes)

    def train(self, trainer, data):
        import warnings

        with warnings.catch_warnings():
            # Opacus' notices (secure RNG off, full-backward hooks on input-free layers, RDP alpha range) are noise here.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # divide-by-zero inside the PRV accountant
            return self._train(trainer, data)

    def _train(self, trainer, data):
        import time

        start = time.perf_counter()
        model = trainer.build_model()  # seeds torch's global generator
        hooks = _Private(self.params, trainer.seed, trainer.recipe)
        trained = trainer.fit(data, model=model, hooks=hooks)
        engine, loop = hooks.engine, hooks.loop
        epsilon = float(engine.get_epsilon(float(self.params["delta"])))
        loop.model.remove_hooks()
        extras = {
            "epsilon": epsilon,
            "delta": float(self.params["delta"]),
            "noise_multiplier": float(loop.optimizer.noise_multiplier),
            "max_grad_norm": float(self.params["max_grad_norm"]),
            "sample_rate": float(getattr(hooks.loader, "sample_rate", 1.0 / max(1, len(hooks.loader)))),
            "epochs": trainer.recipe.epochs,
            "accountant": str(self.params["accountant"]),
            "grad_sample_mode": str(self.params["grad_sample_mode"]),
        }
        return TrainedModel(trained.module.eval(), time.perf_counter() - start, extras)


class _Private(FitHooks):
    """Wraps the fit's model, optimizer, loss and batches with Opacus: Poisson batches, clipped and noised gradients."""

    def __init__(self, params, seed, recipe):
        self.params, self.seed, self.recipe = params, seed, recipe

    def setup(self, loop):
        import torch
        from opacus import PrivacyEngine
        from torch.utils.data import DataLoader, TensorDataset

        loader = DataLoader(TensorDataset(loop.inputs, loop.targets), batch_size=self.recipe.batch_size, shuffle=True, generator=loop.generator)
        self.engine = PrivacyEngine(accountant=str(self.params["accountant"]))
        made = self.engine.make_private_with_epsilon(
            module=loop.model,
            optimizer=loop.optimizer,
            criterion=loop.loss_fn,
            data_loader=loader,
            target_epsilon=float(self.params["epsilon"]),
            target_delta=float(self.params["delta"]),
            epochs=self.recipe.epochs,
            max_grad_norm=float(self.params["max_grad_norm"]),
            noise_generator=torch.Generator().manual_seed(self.seed + 1),
            grad_sample_mode=str(self.params["grad_sample_mode"]),
        )
        # ghost mode also returns a loss wrapper that runs the two backward passes of fast gradient clipping
        model, optimizer, loss_fn, self.loader = made if len(made) == 4 else (made[0], made[1], loop.loss_fn, made[2])
        # Opacus' per-sample hooks are not autocast-safe: DP-SGD trains in full precision.
        self.loop = dataclasses.replace(loop, model=model, optimizer=optimizer, loss_fn=loss_fn, batches=lambda epoch: iter(self.loader), mixed_precision=False)
        return self.loop


@hookimpl
def register_defenses(register):
    register(DPSGD)
