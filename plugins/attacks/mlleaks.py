"""ML-Leaks (Salem et al., NDSS 2019): three adversaries of decreasing knowledge.

* ``mlleaks-adv1`` — one shadow model trained on same-distribution data (half the population); an attack
  MLP (64 hidden units) learns member vs non-member from the shadow's **sorted top-3 posteriors**.
* ``mlleaks-adv2`` — data transferring: the shadow is trained on *another* dataset (another track's data:
  sklearn's bundled digits for image tracks other than digits; Fashion-MNIST from Debian's
  ``dataset-fashion-mnist`` for digits, else sklearn's wine). Sorted top-3 posteriors are domain-agnostic,
  so the attack MLP trained there transfers to the target. The shadow is the attacker's own model
  (an MLP of its own recipe), trained to zero loss like the targets of the paper. Adversaries 1 and 2 keep the
  paper's features, the posteriors themselves: confident outputs whose top-3 round to (1, 0, 0) tie.
* ``mlleaks-adv3`` — no shadow model: threshold on the top-1 posterior (read on its log-odds scale, the same
  order, resolved where it rounds to 1). The paper picks the threshold
  from random noise queries (a high percentile of the maximal posterior on non-data inputs) — we do the
  same, with uniform noise in the data's range, charged to the query budget.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def top3(probs):
    """The three largest posteriors, sorted descending (zero-padded for fewer than 3 classes)."""
    p = -np.sort(-np.asarray(probs, dtype=np.float64), axis=1)[:, :3]
    return np.pad(p, ((0, 0), (0, 3 - p.shape[1]))) if p.shape[1] < 3 else p


class MLLeaksAdv1(Attack):
    name = "mlleaks-adv1"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"hidden": 64, "max_train": 4000}

    def score(self, ctx):
        from plugins.attacks._shared import fit_attack_model, one_shadow_attack_model

        return one_shadow_attack_model(
            ctx, lambda model, data: top3(model.predict_scores(data.x)),
            lambda feats, truth: fit_attack_model(feats, truth, (int(self.params["hidden"]),), seed=ctx.seed), int(self.params["max_train"]),
        )


class MLLeaksAdv2(Attack):
    name = "mlleaks-adv2"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"hidden": 64, "shadow_epochs": 60, "shadow_hidden": 128, "max_rows": 4000}

    def score(self, ctx):
        import torch

        from bench import Dataset, Recipe
        from bench.training import Trainer, predict_logits
        from plugins.attacks._shared import fit_attack_model, member_probability

        x, y, source = transfer_dataset(ctx.track.name, int(self.params["max_rows"]), ctx.rng)
        perm = ctx.rng.permutation(len(x))
        half = len(x) // 2
        inside = np.zeros(len(x), dtype=bool)
        inside[perm[:half]] = True
        recipe = Recipe("mlp", {"hidden": [int(self.params["shadow_hidden"])]}, epochs=int(self.params["shadow_epochs"]), batch_size=32, lr=0.05)
        trainer = Trainer(recipe, input_shape=x.shape[1:], num_classes=int(y.max()) + 1, seed=ctx.seed, device="cpu")
        shadow = trainer.fit(Dataset(x=x[inside], y=y[inside])).module
        logits = predict_logits(shadow, x)
        probs = torch.softmax(torch.as_tensor(logits), dim=1).numpy()
        model = fit_attack_model(top3(probs), inside, (int(self.params["hidden"]),), seed=ctx.seed)
        self.transfer_source = source
        ctx.set_threshold(0.0)
        return member_probability(model, top3(ctx.target.predict_scores(ctx.candidates.x)))


def top1_log_odds(probs):
    """The top-1 posterior on its log-odds scale, log p_max − log Σ_others: monotone in it (the paper's signal and
    threshold rule), but resolved where p_max rounds to 1 (version 1 read p_max: 1.0 exactly for many confident
    outputs, a tie at the member end)."""
    from bench.signals import logit_scale

    p = np.asarray(probs, dtype=np.float64)
    return logit_scale(p, p.argmax(axis=1))


class MLLeaksAdv3(Attack):
    name = "mlleaks-adv3"
    version = "2"
    threat_model = ThreatModel.SCORES
    tasks = (Task.CLASSIFICATION,)
    params = {"noise_queries": 500, "percentile": 90.0}

    def score(self, ctx):
        c = ctx.candidates
        top1 = top1_log_odds(ctx.target.predict_scores(c.x))
        # Random inputs are non-members by construction: their top-1 posterior sets the threshold.
        n = min(int(self.params["noise_queries"]), max(0, ctx.budget.remaining_queries))
        if n > 0:
            lo, hi = float(np.min(c.x)), float(np.max(c.x))
            noise = ctx.rng.uniform(lo, hi, size=(n, *c.x.shape[1:])).astype(np.float32)
            noise_top1 = top1_log_odds(ctx.target.predict_scores(noise))
            ctx.set_threshold(float(np.percentile(noise_top1, float(self.params["percentile"]))))
        return top1


def transfer_dataset(track_name, max_rows, rng):
    """(x, y, source): labelled images of another dataset than the target's, flattened layout kept."""
    import os

    from plugins.tracks._loaders import DEBIAN_FASHION_MNIST

    if track_name != "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, source = (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64), "digits"
    elif os.path.isdir(DEBIAN_FASHION_MNIST):
        x, y = _fashion_mnist_test_14x14(DEBIAN_FASHION_MNIST)
        source = "fashion-mnist"
    else:
        from sklearn.datasets import load_wine

        d = load_wine()
        x = ((d.data - d.data.mean(0)) / d.data.std(0)).astype(np.float32)[:, None, None, :]
        y, source = d.target.astype(np.int64), "wine"
    if len(x) > max_rows:
        keep = np.sort(rng.choice(len(x), max_rows, replace=False))
        x, y = x[keep], y[keep]
    return x, y, source


def _fashion_mnist_test_14x14(folder):
    """Fashion-MNIST's t10k split (the tracks' IDX reader), scaled to [0, 1], 2×2-average-pooled to 14×14."""
    from plugins.tracks._loaders import load_idx_split

    x, y = load_idx_split(folder, "t10k")
    x = x[:, 0].reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)) / 255.0
    return x.astype(np.float32)[:, None], y


@hookimpl
def register_attacks(register):
    register(MLLeaksAdv1)
    register(MLLeaksAdv2)
    register(MLLeaksAdv3)
