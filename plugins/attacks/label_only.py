"""Label-only attacks (Choquette-Choo et al., ICML 2021): the target answers hard labels only.

* ``label-aug`` — data-augmentation robustness. Each candidate is queried under a fixed set of
  augmentations (the original, translations by ``shift`` pixels in 4 directions, rotations by
  ±``rotate`` degrees, ``n_noise`` Gaussian-noise copies); the feature is the vector of
  "predicted label == true label" bits. Members are classified correctly more robustly. An attack
  model (logistic regression, as in the paper's simple variant) is trained on the same bits from one
  shadow model, queried only through ``predict_labels`` too.
* ``label-hsj`` — boundary distance. A HopSkipJump-style decision-based search (Chen et al. 2020)
  finds, for each correctly classified candidate, a nearby point of another label: binary search
  towards a point of another label, then rounds of Monte-Carlo gradient-direction estimation at the
  boundary, a geometric step and a new binary search. The score is the L2 distance from the
  candidate to the boundary point (0 when the target already misclassifies it). Every query is
  counted; the search stops when the next round would exceed ``max_queries`` per candidate (or the
  budget's remaining queries). The threshold is calibrated by the same search on one shadow model.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def augmentations(x, shift, rotate, n_noise, noise, seed):
    """The fixed list of augmented copies of x (N, C, H, W): originals first."""
    from scipy.ndimage import rotate as rot

    from bench.signals import augment

    out = [x]
    for dx, dy in ((shift, 0), (-shift, 0), (0, shift), (0, -shift)):
        out.append(augment(x, f"shift:{dx},{dy}"))
    for angle in (rotate, -rotate):
        out.append(rot(x, angle, axes=(-2, -1), reshape=False, order=1, mode="constant", cval=float(x.min())).astype(x.dtype))
    rng = np.random.default_rng(seed)
    scale = float(x.std()) * noise
    for _ in range(n_noise):
        out.append((x + rng.normal(0.0, scale, size=x.shape)).astype(x.dtype))
    return out


class LabelAugmentation(Attack):
    name = "label-aug"
    version = "1"
    threat_model = ThreatModel.LABEL
    tasks = (Task.CLASSIFICATION,)
    params = {"shift": 1, "rotate": 15.0, "n_noise": 4, "noise": 0.3, "max_train": 4000}

    def features(self, model, data, seed):
        p = self.params
        copies = augmentations(data.x, int(p["shift"]), float(p["rotate"]), int(p["n_noise"]), float(p["noise"]), seed)
        return np.stack([model.predict_labels(xa) == data.y for xa in copies], axis=1).astype(np.float64)

    def score(self, ctx):
        from sklearn.linear_model import LogisticRegression

        from plugins.attacks._shared import one_shadow_attack_model

        # Ties are frequent with a few bits; the count of correct copies is the natural score anyway.
        return one_shadow_attack_model(
            ctx, lambda model, data: self.features(model, data, ctx.seed),
            lambda feats, truth: LogisticRegression(max_iter=1000).fit(feats, truth.astype(int)), int(self.params["max_train"]),
        )


class BoundaryDistance(Attack):
    name = "label-hsj"
    version = "1"
    threat_model = ThreatModel.LABEL
    tasks = (Task.CLASSIFICATION,)
    params = {"max_queries": 100, "binary_steps": 8, "grad_queries": 16, "calibration_points": 400}

    def score(self, ctx):
        from plugins.attacks._shared import balanced_subsample, youden

        c, pop = ctx.candidates, ctx.population
        per = min(int(self.params["max_queries"]), ctx.budget.remaining_queries // max(1, len(c)))
        dist, used = hsj_distance(ctx.target.predict_labels, c.x, c.y, pop, per, self.params, ctx.rng)
        self.queries_per_candidate = used
        if int(self.params["calibration_points"]) > 0:
            shadow = ctx.shadows(1)
            idx = balanced_subsample(shadow.inclusion[0], int(self.params["calibration_points"]), ctx.rng)
            part = shadow.pool[idx]
            cal, _ = hsj_distance(shadow[0].predict_labels, part.x, part.y, pop, per, self.params, ctx.rng)
            ctx.set_threshold(youden(cal, shadow.inclusion[0][idx]))
        return dist


def hsj_distance(predict_labels, x, y, pool, max_queries, params, rng, chunk=1000):
    """(L2 distance to the decision boundary, queries used per example), at most max_queries each.

    Vectorised: every example follows the same query schedule, so the count is the same for all.
    Runs in chunks of examples to bound memory (gradient probes are (chunk, grad_queries, d)).
    """
    if len(x) > chunk:
        parts = [hsj_distance(predict_labels, x[i : i + chunk], y[i : i + chunk], pool, max_queries, params, rng, chunk) for i in range(0, len(x), chunk)]
        return np.concatenate([p[0] for p in parts]), max(p[1] for p in parts)
    return _hsj_chunk(predict_labels, x, y, pool, max_queries, params, rng)


def _hsj_chunk(predict_labels, x, y, pool, max_queries, params, rng):
    x = np.asarray(x, dtype=np.float32)
    n, shape = len(x), x.shape[1:]
    flat = x.reshape(n, -1)
    used = 0

    def ask(points):  # points: (n, d) or (n, k, d) -> labels of the same leading shape
        nonlocal used
        lead = points.shape[:-1]
        used += int(np.prod(lead)) // n
        return np.asarray(predict_labels(points.reshape(-1, *shape).astype(np.float32))).reshape(lead)

    def budget_left(k):
        return used + k <= max_queries

    dist = np.zeros(n)
    if not budget_left(1):
        return dist, used
    correct = ask(flat) == y
    # Start: a population point of another true label (an adversarial starting point as in HSJA's init).
    py = np.asarray(pool.y)
    pflat = np.asarray(pool.x, dtype=np.float32).reshape(len(py), -1)
    start = flat.copy()
    is_adv = np.zeros(n, dtype=bool)
    for _ in range(3):  # a few tries; each costs one query per example
        if is_adv.all() or not budget_left(1 + int(params["binary_steps"])):
            break
        for i in np.flatnonzero(~is_adv):
            start[i] = pflat[rng.choice(np.flatnonzero(py != y[i]))]
        is_adv |= ask(start) != y
    # Misclassified: distance 0. Correct but no start of another label found: the farthest start tried.
    dist[correct & ~is_adv] = np.linalg.norm(start - flat, axis=1)[correct & ~is_adv]
    active = correct & is_adv
    steps = int(params["binary_steps"])

    def binary_search(adv):
        lo, hi = np.zeros(n), np.ones(n)  # fraction of the way from x to adv; hi stays adversarial
        for _ in range(steps):
            if not budget_left(1):
                break
            mid = (lo + hi) / 2
            lab = ask(flat + mid[:, None] * (adv - flat))
            adv_mid = lab != y
            hi = np.where(adv_mid, mid, hi)
            lo = np.where(adv_mid, lo, mid)
        return flat + hi[:, None] * (adv - flat)

    if not budget_left(steps):
        dist[active] = np.linalg.norm(start - flat, axis=1)[active]
        return dist, used
    boundary = binary_search(start)
    b = int(params["grad_queries"])
    t = 1
    # One round: b gradient queries, 4 step-size halvings + 1 check, and a binary search.
    while budget_left(b + 5 + steps):
        d = np.linalg.norm(boundary - flat, axis=1)
        delta = np.maximum(d, 1e-6) * 0.1 / np.sqrt(t)
        u = rng.normal(size=(n, b, flat.shape[1])).astype(np.float32)
        u /= np.linalg.norm(u, axis=2, keepdims=True)
        phi = np.where(ask(boundary[:, None, :] + delta[:, None, None] * u) != y[:, None], 1.0, -1.0)
        phi -= phi.mean(axis=1, keepdims=True)
        g = (phi[:, :, None] * u).mean(axis=1)
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        step = d / np.sqrt(t)
        cand = boundary + step[:, None] * g
        for _ in range(4):  # geometric step-size search: halve until the step lands adversarial
            ok = ask(cand) != y
            step = np.where(ok, step, step / 2)
            cand = np.where(ok[:, None], cand, boundary + step[:, None] * g)
        ok = ask(cand) != y
        new = binary_search(np.where(ok[:, None], cand, boundary))
        closer = np.linalg.norm(new - flat, axis=1) < d
        boundary = np.where((closer & ok)[:, None], new, boundary)
        t += 1
    dist[active] = np.linalg.norm(boundary - flat, axis=1)[active]
    return dist, used


@hookimpl
def register_attacks(register):
    register(LabelAugmentation)
    register(BoundaryDistance)
