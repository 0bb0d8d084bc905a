"""``nasr``: a white-box attack in the style of Nasr et al. (S&P 2019), with a supervised attack model.

Per example, the features are those the paper combines: the loss, the output (probability vector), the
one-hot label, the activations entering the last layer, and gradient information — the per-parameter-
tensor norms of the loss gradient for every layer plus the last layer's bias gradient (p − onehot(y)).
Nasr et al. feed full last-layer gradient matrices into convolutional encoders; we use their norms and
permutation-invariant summaries of the penultimate activations (norm, mean, max, fraction active: raw
hidden units of a shadow are not aligned with the target's), which keeps the attack model a small MLP
trained on ``n_shadows`` shadow models' members and non-members (the paper's setting with shadow data).
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def nasr_features(module, x, y, num_classes):
    import torch

    from bench.signals import cross_entropy
    from bench.training import predict_logits
    from plugins.attacks._shared import last_layer_inputs, per_example_grad_norms

    probs = torch.softmax(torch.as_tensor(predict_logits(module, x)), dim=1).numpy()
    onehot = np.eye(num_classes)[np.asarray(y)]
    loss = cross_entropy(probs, y)[:, None]
    grads = np.log(per_example_grad_norms(module, x, y) + 1e-12)
    # Hidden units of two models are not aligned (permutation symmetry), so raw activations learned on a
    # shadow do not transfer to the target: use permutation-invariant summaries of the activation vector.
    acts = last_layer_inputs(module, x)
    act_stats = np.stack([np.linalg.norm(acts, axis=1), acts.mean(axis=1), acts.max(axis=1), (acts > 0).mean(axis=1)], axis=1)
    return np.concatenate([loss, np.log(probs + 1e-12), onehot, probs - onehot, grads, act_stats], axis=1)


class Nasr(Attack):
    name = "nasr"
    version = "1"
    threat_model = ThreatModel.WHITEBOX
    tasks = (Task.CLASSIFICATION,)
    params = {"n_shadows": 2, "hidden": 64, "max_train": 6000}

    def score(self, ctx):
        from plugins.attacks._shared import balanced_subsample, fit_attack_model, member_probability

        k = int(ctx.track.num_classes)
        shadows = ctx.shadows(min(int(self.params["n_shadows"]), ctx.budget.max_shadows))
        pool = shadows.pool
        feats, truth = [], []
        per = int(self.params["max_train"]) // len(shadows)
        for s, inc in zip(shadows, shadows.inclusion):
            idx = balanced_subsample(inc, per, ctx.rng)
            feats.append(nasr_features(s.module, pool.x[idx], pool.y[idx], k))
            truth.append(inc[idx])
        model = fit_attack_model(np.concatenate(feats), np.concatenate(truth), (int(self.params["hidden"]),), seed=ctx.seed)
        c = ctx.candidates
        ctx.set_threshold(0.0)
        return member_probability(model, nasr_features(ctx.target.module, c.x, c.y, k))


@hookimpl
def register_attacks(register):
    register(Nasr)
