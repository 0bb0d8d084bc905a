"""Augmented views for the embedding attacks (``encodermi``, ``ssl-loss``). Not a plugin.

The attacker draws views with the track's public augmentation (``ctx.track.extra["augmentation"]``): the
same SimCLR view function the ``ssl-encoder`` tracks train with (``plugins.tracks._ssl_model.simclr_views``;
a third-party attack would rebuild it from the published spec), seeded by the attack.
"""

from __future__ import annotations

import numpy as np


def augmented_views(x, n_views, spec, seed):
    """(n, n_views, C, H, W) views of images (n, C, H, W) in [0, 1]."""
    import torch

    from plugins.tracks._ssl_model import simclr_views

    gen = torch.Generator().manual_seed(int(seed))
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    views = [simclr_views(x, spec, gen) for _ in range(n_views)]
    return torch.stack(views, dim=1).numpy()


def embed_views(encoder_embed, views):
    """Unit-norm embeddings (n, n_views, d) of views (n, n_views, C, H, W) through ``encoder_embed``."""
    n, k = views.shape[:2]
    e = np.asarray(encoder_embed(views.reshape(n * k, *views.shape[2:])), dtype=np.float64).reshape(n, k, -1)
    return e / np.maximum(np.linalg.norm(e, axis=2, keepdims=True), 1e-12)
