"""``dpsgd``: differentially private SGD (Abadi et al. 2016) through Opacus.

Per-example gradients are clipped to ``max_grad_norm`` and Gaussian noise is added, with the noise multiplier
that Opacus' accountant picks to reach the target (ε, δ) over the recipe's epochs under Poisson sampling.
The accountant's final ε is recorded in ``record.defense.report``. ``batch_size``, ``epochs`` and ``lr``
override the recipe's where set (DP-SGD prefers larger batches and fewer epochs); the model must have no
BatchNorm (ours are MLPs / small CNNs).
"""

from bench import Defense, hookimpl


class DPSGD(Defense):
    name = "dpsgd"
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
        import math
        import time

        import numpy as np
        import torch
        from opacus import PrivacyEngine
        from torch.utils.data import DataLoader, TensorDataset

        from bench.training import TrainedModel, augment_batch

        r = trainer.recipe
        start = time.perf_counter()
        model = trainer.build_model()  # seeds torch's global generator (noise, Poisson sampling)
        optimizer = trainer.optimizer(model)
        x = torch.as_tensor(np.asarray(data.x, dtype=np.float32))
        y = torch.as_tensor(np.asarray(data.y))
        gen = torch.Generator().manual_seed(trainer.seed)
        loader = DataLoader(TensorDataset(x, y), batch_size=r.batch_size, shuffle=True, generator=gen)
        engine = PrivacyEngine(accountant=str(self.params["accountant"]))
        mode = str(self.params["grad_sample_mode"])
        made = engine.make_private_with_epsilon(
            module=model,
            optimizer=optimizer,
            criterion=trainer.loss_fn(),
            data_loader=loader,
            target_epsilon=float(self.params["epsilon"]),
            target_delta=float(self.params["delta"]),
            epochs=r.epochs,
            max_grad_norm=float(self.params["max_grad_norm"]),
            noise_generator=torch.Generator().manual_seed(trainer.seed + 1),
            grad_sample_mode=mode,
        )
        # ghost mode also returns a loss wrapper that runs the two backward passes of fast gradient clipping
        model, optimizer, loss_fn, loader = made if len(made) == 4 else (made[0], made[1], trainer.loss_fn(), made[2])
        steps = r.epochs * max(1, math.ceil(len(x) / r.batch_size))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps) if r.schedule == "cosine" else None
        model.train()
        for epoch in range(r.epochs):
            for xb, yb in loader:
                if len(xb) == 0:  # Poisson sampling can draw an empty batch
                    continue
                if r.augment:
                    xb = augment_batch(xb, r.augment, gen)
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(xb.to(trainer.device)), yb.to(trainer.device)).backward()
                optimizer.step()
                if sched is not None:
                    sched.step()
            if trainer.progress is not None:
                trainer.progress(epoch + 1, r.epochs)
        epsilon = float(engine.get_epsilon(float(self.params["delta"])))
        model.remove_hooks()
        module = model._module.eval()
        extras = {
            "epsilon": epsilon,
            "delta": float(self.params["delta"]),
            "noise_multiplier": float(optimizer.noise_multiplier),
            "max_grad_norm": float(self.params["max_grad_norm"]),
            "sample_rate": float(getattr(loader, "sample_rate", 1.0 / max(1, len(loader)))),
            "epochs": r.epochs,
            "accountant": str(self.params["accountant"]),
            "grad_sample_mode": mode,
        }
        return TrainedModel(module, time.perf_counter() - start, extras)


@hookimpl
def register_defenses(register):
    register(DPSGD)
