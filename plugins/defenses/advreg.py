"""``advreg``: adversarial regularization (Nasr, Shokri & Houmansadr, CCS 2018).

A min-max game: an inference model h(f(x), y) learns to tell the classifier's training points from reference
points, and the classifier f minimizes its loss plus ``alpha`` times h's gain on the training points,
log h(f(x), y). The defender's reference set is ``ref_fraction`` of the *training data*, held out from the
classifier (the recipe's data only; no target non-members are used): those members are never trained on.
Each classifier step follows ``k_steps`` inference-model steps, after ``warmup_epochs`` of plain training.
"""

from bench import Defense, hookimpl


class AdvReg(Defense):
    name = "advreg"
    params = {"alpha": 1.0, "ref_fraction": 0.2, "k_steps": 1, "warmup_epochs": 2, "attack_lr": 1e-3}

    def train(self, trainer, data):
        import math
        import time

        import numpy as np
        import torch
        from torch import nn

        from bench.training import TrainedModel, augment_batch

        r = trainer.recipe
        start = time.perf_counter()
        rng = np.random.default_rng([trainer.seed, 0xAD])
        order = rng.permutation(len(data))
        n_ref = max(1, int(round(float(self.params["ref_fraction"]) * len(data))))
        ref, train = data[np.sort(order[:n_ref])], data[np.sort(order[n_ref:])]
        model = trainer.build_model()
        k = trainer.num_classes
        # h: on the probability vector (sorted, as the paper's label-aware MLP sees it) and the one-hot label.
        attack = nn.Sequential(nn.Linear(2 * k, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)).to(trainer.device)
        opt_f = trainer.optimizer(model)
        opt_h = torch.optim.Adam(attack.parameters(), lr=float(self.params["attack_lr"]))
        x, y = torch.as_tensor(np.asarray(train.x, dtype=np.float32)), torch.as_tensor(np.asarray(train.y))
        xr, yr = torch.as_tensor(np.asarray(ref.x, dtype=np.float32)), torch.as_tensor(np.asarray(ref.y))
        gen = torch.Generator().manual_seed(trainer.seed)
        steps = r.epochs * max(1, math.ceil(len(x) / r.batch_size))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt_f, T_max=steps) if r.schedule == "cosine" else None
        loss_fn = trainer.loss_fn()
        bce = nn.BCEWithLogitsLoss()
        alpha, k_steps, warmup = float(self.params["alpha"]), int(self.params["k_steps"]), int(self.params["warmup_epochs"])

        def h(logits, labels):
            probs = torch.softmax(logits, dim=1)
            return attack(torch.cat([probs.sort(dim=1, descending=True).values, nn.functional.one_hot(labels, k).float()], dim=1)).squeeze(1)

        def batch(xs, ys, size):
            idx = torch.randint(0, len(xs), (size,), generator=gen)
            xb = xs[idx]
            if r.augment:
                xb = augment_batch(xb, r.augment, gen)
            return xb.to(trainer.device), ys[idx].to(trainer.device)

        model.train()
        for epoch in range(r.epochs):
            order_t = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), r.batch_size):
                idx = order_t[i : i + r.batch_size]
                xb, yb = x[idx], y[idx]
                if r.augment:
                    xb = augment_batch(xb, r.augment, gen)
                xb, yb = xb.to(trainer.device), yb.to(trainer.device)
                adversarial = epoch >= warmup
                if adversarial:
                    for _ in range(k_steps):  # maximize h's gain: members → 1, reference → 0
                        xm, ym = batch(x, y, len(idx))
                        xn, yn = batch(xr, yr, len(idx))
                        with torch.no_grad():
                            lm, ln = model(xm), model(xn)
                        gain = bce(h(lm, ym), torch.ones(len(ym), device=trainer.device)) + bce(h(ln, yn), torch.zeros(len(yn), device=trainer.device))
                        opt_h.zero_grad(set_to_none=True)
                        gain.backward()
                        opt_h.step()
                opt_f.zero_grad(set_to_none=True)
                logits = model(xb)
                loss = loss_fn(logits, yb)
                if adversarial:
                    loss = loss + alpha * nn.functional.logsigmoid(h(logits, yb)).mean()
                loss.backward()
                opt_f.step()
                if sched is not None:
                    sched.step()
            if trainer.progress is not None:
                trainer.progress(epoch + 1, r.epochs)
        model.eval()
        return TrainedModel(model, time.perf_counter() - start, {"n_reference": n_ref})


@hookimpl
def register_defenses(register):
    register(AdvReg)
