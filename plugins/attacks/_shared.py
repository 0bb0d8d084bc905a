"""Small helpers shared by the first-party attacks (public API only; heavy imports inside functions).

Not a plugin: no hooks here. Each attack file stays readable on its own and calls these for the
parts every shadow-model attack repeats (calibration on shadows, the attack classifier, features).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

_TINY = 1e-30


def shadow_calibration(ctx: Any, signal: Callable[[Any, Any], np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(signal values, IN/OUT truth, labels) of n offline shadow models on their own pool.

    ``signal(model, candidates)`` is the same per-example signal the attack computes on the target.
    ``labels`` is None for pools without class labels (image-text units).
    """
    shadows = ctx.shadows(n)
    pool = shadows.pool
    values = np.concatenate([np.asarray(signal(s, pool), dtype=float) for s in shadows])
    truth = np.concatenate(list(shadows.inclusion))
    labels = np.concatenate([pool.y] * len(shadows)) if "y" in getattr(pool, "fields", ()) else None
    return values, truth, labels


def calibrate_on_shadows(ctx: Any, signal: Callable[[Any, Any], np.ndarray], n: int) -> None:
    """Set the attack's operating point: the Youden threshold of ``signal`` on n offline shadow models'
    own members and non-members (never the target's). Nothing when ``n`` is 0."""
    if n > 0:
        values, truth, _ = shadow_calibration(ctx, signal, n)
        ctx.set_threshold(youden(values, truth))


def youden(values: np.ndarray, truth: np.ndarray) -> float:
    """Youden-J threshold on attacker-known (shadow) membership; midpoint fallback for one class."""
    from bench.metrics import youden_threshold

    truth = np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        return float(np.median(values))
    return youden_threshold(values, truth)


def class_thresholds(values: np.ndarray, truth: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Song & Mittal's class-dependent thresholds τ_y (global threshold where a class lacks IN or OUT)."""
    glob = youden(values, truth)
    out = np.full(num_classes, glob, dtype=np.float64)
    for c in range(num_classes):
        m = labels == c
        if m.sum() >= 4 and truth[m].any() and (~truth[m]).any():
            out[c] = youden(values[m], truth[m])
    return out


def fit_attack_model(features: np.ndarray, truth: np.ndarray, hidden: tuple[int, ...] = (64,), seed: int = 0, max_iter: int = 300) -> Any:
    """A standardized MLP membership classifier (sklearn): the attack model of Shokri / ML-Leaks / Nasr."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import warnings

    from sklearn.exceptions import ConvergenceWarning

    # Early stopping holds out 10 %: only worth it with enough rows (on a few hundred it stops at a constant).
    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter, early_stopping=len(truth) >= 1000, random_state=seed),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the attack's budget, not an error
        return model.fit(np.asarray(features, dtype=np.float64), np.asarray(truth, dtype=int))


def member_probability(model: Any, features: np.ndarray) -> np.ndarray:
    """P(member) from a fitted attack model, as a logit (finite, keeps resolution near 0 and 1)."""
    classes = list(model.classes_)
    if len(classes) == 1:
        return np.full(len(features), 10.0 if classes[0] == 1 else -10.0)
    p = model.predict_proba(np.asarray(features, dtype=np.float64))[:, classes.index(1)]
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def one_shadow_attack_model(ctx: Any, features: Callable[[Any, Any], np.ndarray], fit: Callable[[np.ndarray, np.ndarray], Any], max_train: int) -> np.ndarray:
    """The attack-model recipe with one offline shadow (ML-Leaks adversary 1, label-only augmentation).

    ``features(model, candidates)`` is computed on a balanced subsample of the shadow's own pool (at most
    ``max_train`` rows), ``fit(features, truth)`` trains the attack model on the shadow's IN/OUT truth, and
    the candidates are scored by it on the target's features: P(member) as a logit, operating point 1/2.
    """
    shadow = ctx.shadows(1)
    truth = shadow.inclusion[0]
    idx = balanced_subsample(truth, max_train, ctx.rng)
    model = fit(features(shadow[0], shadow.pool[idx]), truth[idx])
    ctx.set_threshold(0.0)  # P(member) = 1/2
    return member_probability(model, features(ctx.target, ctx.candidates))


def balanced_subsample(truth: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most n_max/2 IN and n_max/2 OUT examples (keeps attack-model training cheap)."""
    truth = np.asarray(truth, dtype=bool)
    idx = []
    for side in (True, False):
        where = np.flatnonzero(truth == side)
        idx.append(rng.choice(where, min(len(where), n_max // 2), replace=False) if len(where) else where)
    return np.sort(np.concatenate(idx))


def per_example_grad_norms(module: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 64, *, float64: bool = False) -> np.ndarray:
    """(n, n_param_tensors) L2 norms of each example's cross-entropy gradient per parameter tensor.

    ``float64``: on a float64 copy of the module, so confident examples keep a non-zero gradient (in float32 the
    softmax's other classes underflow to 0 at logit margins past about 100, and the gradient is exactly 0)."""
    import copy

    import torch
    from torch.func import functional_call, grad, vmap

    if float64:
        module = copy.deepcopy(module).double()
    dtype = np.float64 if float64 else np.float32
    params = {k: v.detach() for k, v in module.named_parameters()}
    device = next(iter(params.values())).device

    def loss(p, xb, yb):
        out = functional_call(module, p, (xb[None],))
        return torch.nn.functional.cross_entropy(out, yb[None])

    per_ex = vmap(grad(loss), in_dims=(None, 0, 0))
    module.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(np.asarray(x[i : i + batch_size], dtype=dtype), device=device)
        yb = torch.as_tensor(np.asarray(y[i : i + batch_size], dtype=np.int64), device=device)
        g = per_ex(params, xb, yb)
        out.append(torch.stack([g[k].flatten(1).norm(dim=1) for k in params], dim=1).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(params)))


def last_layer_inputs(module: Any, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Activations entering the module's last linear layer (its penultimate representation)."""
    import torch

    last = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
    device = next(module.parameters()).device
    grabbed: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda m, inp, out: grabbed.append(inp[0].detach().flatten(1).double().cpu()))
    try:
        module.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                module(torch.as_tensor(np.asarray(x[i : i + batch_size], dtype=np.float32), device=device))
    finally:
        hook.remove()
    return torch.cat(grabbed).numpy() if grabbed else np.zeros((0, last.in_features))


def threshold_attack_score(ctx: Any, signal: Callable[[np.ndarray, np.ndarray], np.ndarray], n_shadows: int, per_class: bool) -> np.ndarray:
    """Score-threshold attacks (Song & Mittal): signal on the target, thresholds from shadow models.

    With ``per_class`` the score is the signal minus the class-dependent threshold τ_y, so one global
    operating point (0) applies the paper's class-dependent rule; otherwise the raw signal and a global τ.
    """
    c = ctx.candidates
    values = signal(ctx.target.predict_scores(c.x), c.y)
    cal, truth, labels = shadow_calibration(ctx, lambda m, pool: signal(m.predict_scores(pool.x), pool.y), n_shadows)
    if per_class:
        tau = class_thresholds(cal, truth, labels, int(ctx.track.num_classes))
        ctx.set_threshold(0.0)
        return values - tau[c.y]
    ctx.set_threshold(youden(cal, truth))
    return values


def entropy(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    return -(p * np.log(np.maximum(p, _TINY))).sum(axis=1)


def modified_entropy(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Song & Mittal's Mentr: −(1−p_y) log p_y − Σ_{i≠y} p_i log(1−p_i); low for confident correct predictions.

    1 − p_y is summed from the other classes and −log p_y taken from the log-softmax form (``cross_entropy``),
    so confident predictions whose p_y rounds to 1 keep distinct, non-zero values."""
    from bench.signals import cross_entropy

    p = np.asarray(probs, dtype=np.float64)
    idx = np.arange(len(y)), np.asarray(y)
    terms = -p * np.log1p(-np.minimum(p, 1.0 - 1e-16))
    terms[idx] = 0.0
    rest = (p * (np.arange(p.shape[1]) != np.asarray(y)[:, None])).sum(axis=1)
    return rest * cross_entropy(p, y) + terms.sum(axis=1)
