"""Augmented views for the embedding attacks (``encodermi``, ``ssl-loss``): lightly's SimCLR transform.

Not a plugin. The attacker rebuilds the track's public view augmentation (``ctx.track.extra["augmentation"]``,
keyword arguments of lightly's ``SimCLRTransform``) and draws views of images itself, seeded by the attack.
"""

from __future__ import annotations

import numpy as np


def augmented_views(x, n_views, spec, seed):
    """(n, n_views, C, H, W) views of images (n, C, H, W) in [0, 1], drawn with lightly's SimCLR transform."""
    import torch
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    transform = SimCLRTransform(**{**dict(spec), "normalize": None})
    state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        out = []
        for img in np.asarray(x):
            pil = Image.fromarray(np.clip(np.rint(img[0] * 255), 0, 255).astype(np.uint8), mode="L")
            views = [transform(pil)[0].numpy() for _ in range(n_views)]
            out.append(np.stack(views))
    finally:
        torch.random.set_rng_state(state)
    return np.stack(out).astype(np.float32)


def embed_views(encoder_embed, views):
    """Unit-norm embeddings (n, n_views, d) of views (n, n_views, C, H, W) through ``encoder_embed``."""
    n, k = views.shape[:2]
    e = np.asarray(encoder_embed(views.reshape(n * k, *views.shape[2:])), dtype=np.float64).reshape(n, k, -1)
    return e / np.maximum(np.linalg.norm(e, axis=2, keepdims=True), 1e-12)
