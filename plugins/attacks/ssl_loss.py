"""``ssl-loss``: the loss-threshold attack (Yeom et al., CSF 2018) on the contrastive training objective.

A model's loss is lower on its training examples. For an encoder trained with SimCLR the training loss of
an image x is the NT-Xent (InfoNCE) loss of its two views against other images' views,

    L(x) = -log( exp(cos(z_1, z_2)/τ) / ( exp(cos(z_1, z_2)/τ) + Σ_r exp(cos(z_1, z_r)/τ) ) ),

averaged here over ``pairs`` view pairs, with negatives z_r the views of ``negatives`` population images.
The attacker sees embeddings only, so z are backbone embeddings (the projection head, on which the real loss
is computed, is withheld): the attack is the loss attack read through the encoder's output. Unlike EncoderMI's
view agreement alone, L(x) also weighs how far x's views sit from other images (uniformity). Score: -L(x);
threshold: Youden point on shadow encoders.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def ntxent_loss(z, negatives, tau):
    """Mean NT-Xent loss of consecutive view pairs (z[:, 0], z[:, 1]), (z[:, 2], z[:, 3])... against ``negatives``."""
    losses = []
    for a in range(0, z.shape[1] - 1, 2):
        pos = np.sum(z[:, a] * z[:, a + 1], axis=1) / tau
        neg = z[:, a] @ negatives.T / tau
        logits = np.concatenate([pos[:, None], neg], axis=1)
        m = logits.max(axis=1, keepdims=True)
        losses.append(-(pos - (m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)))))
    return np.mean(losses, axis=0)


class SslLoss(Attack):
    name = "ssl-loss"
    version = "1"
    threat_model = ThreatModel.EMBEDDINGS
    tasks = (Task.REPRESENTATION,)
    params = {"pairs": 4, "negatives": 128, "temperature": 0.5, "shadows": 1}

    def score(self, ctx):
        from ._shared import youden
        from ._views import augmented_views, embed_views

        spec = ctx.track.extra["augmentation"]
        k, tau = 2 * int(self.params["pairs"]), float(self.params["temperature"])
        pop = ctx.population.x[ctx.rng.permutation(len(ctx.population))[: int(self.params["negatives"])]]
        neg_views = augmented_views(pop, 1, spec, ctx.seed + 2)
        views = augmented_views(ctx.candidates.x, k, spec, ctx.seed)
        scores = -ntxent_loss(embed_views(ctx.target.embed, views), embed_views(ctx.target.embed, neg_views)[:, 0], tau)
        n = min(int(self.params["shadows"]), ctx.budget.max_shadows)
        if n < 1:  # a tier without shadow models: scores only, no operating point
            return scores
        shadows = ctx.shadows(n)
        pool_views = augmented_views(shadows.pool.x, k, spec, ctx.seed + 1)
        cal = [-ntxent_loss(embed_views(s.embed, pool_views), embed_views(s.embed, neg_views)[:, 0], tau) for s in shadows]
        ctx.set_threshold(youden(np.concatenate(cal), np.concatenate(list(shadows.inclusion))))
        return scores


@hookimpl
def register_attacks(register):
    register(SslLoss)
