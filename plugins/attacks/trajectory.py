"""``trajectory``: TrajectoryMIA (Liu et al., CCS 2022) — membership from distillation loss trajectories.

1. A shadow model (``ctx.shadows(1)``) is trained like the target on half the population (its IN half).
2. A distillation set D the attack never scores: population data in LiRA's pool design (where the shadow's pool is
   the target's candidates); otherwise half the shadow's OUT data, the rest being its non-member examples.
   Version 1 took D from the pool in the pool design: a quarter of the candidates, half of them the target's
   members, were distilled on and then scored (those scored lower: AUC 0.44–0.48 against the rest on fashion-mnist).
3. The target and the shadow are each distilled into a fresh student on D (soft labels queried from
   the teacher, KL objective) for exactly ``distill_epochs`` epochs. After every epoch the student's
   loss on each example (true label) is recorded: the loss trajectory. The teacher's own loss is
   appended as the last feature, as in the paper.
4. An attack MLP learns IN vs OUT from the shadow's trajectories; it scores the target's candidates.

The number of epochs is a parameter fixed in advance. (The original code picks the epoch with the
best AUC on the target's test data, which uses ground truth and is optimistic; we never do.) The
trajectories are exported per candidate (``trajectory``).
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


class TrajectoryMIA(Attack):
    name = "trajectory"
    version = "2"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"distill_epochs": 20, "student_hidden": 128, "lr": 0.05, "hidden": 64, "max_train": 4000}

    def trajectories(self, teacher_probs_d, d, points, teacher_probs_points, ctx):
        """(n_points, distill_epochs + 1): student loss per epoch on ``points``, then the teacher's loss."""
        import torch

        from bench import Dataset, Recipe
        from bench.signals import cross_entropy
        from bench.training import Trainer, predict_logits

        epochs = int(self.params["distill_epochs"])
        recipe = Recipe("mlp", {"hidden": [int(self.params["student_hidden"])]}, epochs=epochs, batch_size=64, lr=float(self.params["lr"]))
        trainer = Trainer(recipe, input_shape=tuple(ctx.track.input_shape), num_classes=int(ctx.track.num_classes), seed=ctx.seed, device="cpu")
        losses = []

        def record(epoch, model):
            probs = torch.softmax(torch.as_tensor(predict_logits(model, points.x)), dim=1).numpy()
            losses.append(cross_entropy(probs, points.y))
            model.train()

        trainer.fit(Dataset(x=d.x, y=d.y), targets=np.asarray(teacher_probs_d, dtype=np.float32), on_epoch=record)
        return np.stack(losses + [cross_entropy(teacher_probs_points, points.y)], axis=1)

    def score(self, ctx):
        from plugins.attacks._shared import balanced_subsample, fit_attack_model, member_probability

        shadow = ctx.shadows(1)
        pool, inc = shadow.pool, shadow.inclusion[0]
        out = ctx.rng.permutation(np.flatnonzero(~inc))
        if shadow.n_candidates == len(pool):  # LiRA's pool design: the shadow's pool is the target's candidates
            # D from the population (never scored, never trained on by target or shadow), as large as half its OUT
            d = ctx.population[np.sort(ctx.rng.choice(len(ctx.population), min(len(ctx.population), len(out) // 2), replace=False))]
            scored = np.arange(len(pool))
        else:  # the shadow trained on population halves: D is half its OUT side, never a candidate
            d = pool[np.sort(out[: len(out) // 2])]
            scored = np.sort(np.concatenate([np.flatnonzero(inc), out[len(out) // 2 :]]))
        pick = scored[balanced_subsample(inc[scored], int(self.params["max_train"]), ctx.rng)]

        s = shadow[0]
        shadow_traj = self.trajectories(s.predict_scores(d.x), d, pool[pick], s.predict_scores(pool.x[pick]), ctx)
        model = fit_attack_model(np.log(shadow_traj + 1e-12), inc[pick], (int(self.params["hidden"]),), seed=ctx.seed)

        c = ctx.candidates
        target_traj = self.trajectories(ctx.target.predict_scores(d.x), d, c, ctx.target.predict_scores(c.x), ctx)
        ctx.export("trajectory", target_traj)
        ctx.set_threshold(0.0)
        return member_probability(model, np.log(target_traj + 1e-12))


@hookimpl
def register_attacks(register):
    register(TrajectoryMIA)
