"""``encodermi``: EncoderMI, membership inference against contrastive encoders (Liu et al., CCS 2021).

Contrastive pre-training pulls together the views of each *training* image, so an encoder embeds augmented
views of a member more alike than those of a non-member. For a candidate x the attacker draws ``views``
augmented views x_1..x_n with the pre-training augmentation (public: lightly's SimCLR transform with the
track's parameters), queries their embeddings f(x_i) (threat model ``embeddings``: no labels, no projection
head) and forms the membership feature, the set of pairwise cosine similarities

    S(x) = { cos(f(x_i), f(x_j)) : 1 <= i < j <= n }.

``variant="threshold"`` (EncoderMI-T): the score is the mean of S(x), thresholded at the value that best
separates members from non-members of the attacker's shadow encoders (trained by the harness with the same
recipe on population halves; a tier without shadows gets the scores only). ``variant="vector"`` (EncoderMI-V): S(x) sorted into a vector and fed to an
MLP classifier trained on the shadow encoders' members and non-members; the score is its log-odds.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def similarity_features(embeddings):
    """(n, n_views*(n_views-1)/2) pairwise cosine similarities of unit-norm view embeddings, sorted per row."""
    k = embeddings.shape[1]
    sim = np.einsum("ijd,ikd->ijk", embeddings, embeddings)
    iu = np.triu_indices(k, 1)
    return np.sort(sim[:, iu[0], iu[1]], axis=1)


class EncoderMI(Attack):
    name = "encodermi"
    version = "1"
    threat_model = ThreatModel.EMBEDDINGS
    tasks = (Task.REPRESENTATION,)
    params = {"views": 10, "variant": "threshold", "shadows": 1}

    def score(self, ctx):
        from ._views import augmented_views, embed_views

        variant = self.params["variant"]
        if variant not in ("threshold", "vector"):
            raise ValueError(f"encodermi: variant must be 'threshold' or 'vector', not {variant!r}")
        k = int(self.params["views"])
        spec = ctx.track.extra["augmentation"]
        views = augmented_views(ctx.candidates.x, k, spec, ctx.seed)
        target = similarity_features(embed_views(ctx.target.embed, views))
        n = min(int(self.params["shadows"]), ctx.budget.max_shadows)
        if n < 1:
            if variant == "vector":
                raise ValueError("encodermi: variant 'vector' trains its classifier on shadow encoders, and this budget tier allows none")
            return target.mean(1)  # EncoderMI-T's feature; a tier without shadow models gets no operating point
        shadows = ctx.shadows(n)
        pool_views = augmented_views(shadows.pool.x, k, spec, ctx.seed + 1)
        feats = np.concatenate([similarity_features(embed_views(s.embed, pool_views)) for s in shadows])
        truth = np.concatenate(list(shadows.inclusion))
        if variant == "threshold":
            from ._shared import youden

            ctx.set_threshold(youden(feats.mean(1), truth))
            return target.mean(1)
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=ctx.seed).fit(feats, truth)
        p = np.clip(clf.predict_proba(target)[:, 1], 1e-9, 1 - 1e-9)
        ctx.set_threshold(0.0)
        return np.log(p) - np.log1p(-p)


@hookimpl
def register_attacks(register):
    register(EncoderMI)
