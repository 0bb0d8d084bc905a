"""``advreg``: adversarial regularization (Nasr, Shokri & Houmansadr, CCS 2018).

A min-max game: an inference model h(f(x), y) learns to tell the classifier's training points from reference
points, and the classifier f minimizes its loss plus ``alpha`` times h's gain on the training points,
log h(f(x), y) (the paper's Eq. 7, the inner max over h being Eq. 5). The defender's reference set D' is
population data the harness draws beside the training set (``ref_fraction`` × its size, ``trainer.reference``),
disjoint from the members: every member is trained on (version 1 held 20 % of the members out as D' and was
scored on them as members). Each classifier step follows ``k_steps``
inference-model steps, after ``warmup_epochs`` of plain training. The game plugs into the trainer's loop
(``FitHooks``): h's steps before each classifier step, h's gain added to the classifier's loss (``training_loss``).
"""

from bench import Defense, FitHooks, hookimpl, reference_count, require_reference


class _MinMax(FitHooks):
    """h's updates (``before_step``) and the classifier's regularizer (``loss``), after the warm-up epochs."""

    def __init__(self, attack, opt_h, reference, params, trainer):
        import torch

        self.attack, self.opt_h, self.k, self.device = attack, opt_h, trainer.num_classes, trainer.device
        self.augment = trainer.recipe.augment
        self.xr = torch.as_tensor(reference.x, dtype=torch.float32)
        self.yr = torch.as_tensor(reference.y)
        self.alpha, self.k_steps, self.warmup = float(params["alpha"]), int(params["k_steps"]), int(params["warmup_epochs"])

    def h(self, logits, labels):
        import torch
        from torch import nn

        probs = torch.softmax(logits, dim=1)
        # h sees the probability vector in class order beside the one-hot label, so it can read p_y (the official
        # purchase_defended.py); version 2 sorted it, which hid which probability was the label's.
        return self.attack(torch.cat([probs, nn.functional.one_hot(labels, self.k).float()], dim=1)).squeeze(1)

    def _sample(self, loop, xs, ys, size):
        import torch

        from bench.training import augment_batch

        idx = torch.randint(0, len(xs), (size,), generator=loop.generator)
        xb = xs[idx]
        if self.augment:
            xb = augment_batch(xb, self.augment, loop.generator)
        return xb.to(self.device), ys[idx].to(self.device)

    def before_step(self, step):
        import torch
        from torch import nn

        if step.epoch < self.warmup:
            return
        loop, n, bce = step.loop, len(step.targets), nn.BCEWithLogitsLoss()
        for _ in range(self.k_steps):  # maximize h's gain: members → 1, reference → 0
            xm, ym = self._sample(loop, loop.inputs, loop.targets, n)
            xn, yn = self._sample(loop, self.xr, self.yr, n)
            with torch.no_grad():
                lm, ln = loop.model(xm), loop.model(xn)
            gain = bce(self.h(lm, ym), torch.ones(len(ym), device=self.device)) + bce(self.h(ln, yn), torch.zeros(len(yn), device=self.device))
            self.opt_h.zero_grad(set_to_none=True)
            gain.backward()
            self.opt_h.step()

    def training_loss(self, step, outputs, loss):
        from torch import nn

        if step.epoch < self.warmup:
            return loss
        return loss + self.alpha * nn.functional.logsigmoid(self.h(outputs, step.targets)).mean()


class AdvReg(Defense):
    name = "advreg"
    version = "3"  # 3: h sees the probabilities in class order; 2: the reference set D' comes from the population
    changes_training = True
    params = {"alpha": 1.0, "ref_fraction": 0.2, "k_steps": 1, "warmup_epochs": 2, "attack_lr": 1e-3}

    def reference_size(self, train_size):
        return reference_count(self.params["ref_fraction"], train_size, who="advreg")

    def train(self, trainer, data):
        import time

        import torch
        from torch import nn

        start = time.perf_counter()
        ref = require_reference(trainer, "advreg")
        model = trainer.build_model()
        k = trainer.num_classes
        attack = nn.Sequential(nn.Linear(2 * k, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)).to(trainer.device)
        opt_h = torch.optim.Adam(attack.parameters(), lr=float(self.params["attack_lr"]))
        trained = trainer.fit(data, model=model, hooks=_MinMax(attack, opt_h, ref, self.params, trainer))
        trained.train_seconds = time.perf_counter() - start
        trained.extras["n_reference"] = len(ref)
        return trained


@hookimpl
def register_defenses(register):
    register(AdvReg)
