"""``memguard``: MemGuard (Jia et al., CCS 2019), adversarial noise on the served confidence vectors.

The defender trains its own membership classifier g on its own data, then turns every served confidence vector
into an adversarial example for g (official code: github.com/jjy1994/MemGuard, ``defense_framework.py``).

Phase 0 (defender's attack model). g is an MLP (256-128-64, ReLU, sigmoid) on the *sorted* confidence vector,
trained on the model's outputs for its own training examples (members: the defender knows them) and for reference
data from the population (non-members, ``Defense.reference_size``: as many as ``defender_members`` members,
at most the training set's size), balanced by weights. The harness fits g once per model in ``prepare`` (target
and shadows alike: each shadow gets a MemGuard fitted on its own training data, as the attacker would build it)
and keeps it in memory; ``serve(predictor, g)`` wraps the model.

Phase I (noise search, eq. 8–9 of the paper). For the sorted logits z₀ of a query, with p₀ = softmax(z₀):
    min_z  c₁·|h(z)| + c₂·ReLU(max_{j≠ŷ} z_j − z_ŷ) + c₃·‖softmax(z) − p₀‖₁,
where h is g's pre-sigmoid output (h = 0 ⇔ g = 0.5) and ŷ the predicted label. Normalised gradient steps of
0.1, at most 300 per round, stop once the label is kept and g has crossed 0.5; each success is retried from z₀
with c₃ × 10 (smaller noise), and the last success is kept. A query for which no round succeeds is served as is.

Phase II (utility budget ε). The noise r = softmax(z*) − p₀ is added with probability p = min(1, ε/‖r‖₁), so the
expected L1 distortion stays within ε. The coin is seeded by the query's bytes: the same input always gets the
same answer, so repeating a query cannot average the noise away.

Labels are served from the undefended model, so test accuracy is unchanged; the served vector keeps the argmax
by construction (the ReLU term, and only label-keeping successes are used).
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench import Defense, Predictor, hookimpl

C1, C2, C3_START, C3_MAX, STEP, MAX_ITER = 1.0, 10.0, 0.1, 1e5, 0.1, 300


def build_defender(num_classes: int):
    """g: sorted confidence vector → membership logit (the official ``model_defense``)."""
    from torch import nn

    return nn.Sequential(nn.Linear(num_classes, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1))


def fit_defender(member_probs: np.ndarray, nonmember_probs: np.ndarray, *, seed: int, epochs: int = 400, lr: float = 1e-3):
    """Train g on sorted confidence vectors of the defender's members and non-members (balanced by weights)."""
    import torch

    torch.manual_seed(seed)
    x = torch.as_tensor(np.sort(np.vstack([member_probs, nonmember_probs]), axis=1), dtype=torch.float32)
    y = torch.cat([torch.ones(len(member_probs)), torch.zeros(len(nonmember_probs))])
    w = torch.where(y > 0, len(y) / (2.0 * len(member_probs)), len(y) / (2.0 * len(nonmember_probs)))
    g = build_defender(x.shape[1])
    opt = torch.optim.Adam(g.parameters(), lr=lr)
    for _ in range(epochs):  # full batch: a few thousand 10-dim rows
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(g(x).squeeze(1), y, weight=w)
        loss.backward()
        opt.step()
    for p in g.parameters():
        p.requires_grad_(False)  # Phase I differentiates through g with respect to its input only
    return g.eval()


def _search(g, z0, p0, c3: float, max_iter: int):
    """One round of Phase I at a fixed c₃ for a batch of sorted logits; returns (z, success mask)."""
    import torch

    z, before = z0.clone(), z0.clone()
    s0 = torch.sigmoid(_g(g, z0))
    active = torch.ones(len(z0), dtype=torch.bool)
    for _ in range(max_iter):
        idx = active.nonzero().squeeze(1)
        zv = z[idx].clone().requires_grad_(True)
        wrong_gap = torch.relu(zv[:, :-1].max(1).values - zv[:, -1])
        dist = (torch.softmax(zv, 1) - p0[idx]).abs().sum(1)
        (C1 * _g(g, zv).abs() + C2 * wrong_gap + c3 * dist).sum().backward()
        with torch.no_grad():
            before[idx] = zv
            z[idx] = zv - STEP * zv.grad / zv.grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            active[idx[_success(g, z[idx], s0[idx])]] = False
        if not active.any():
            break
    with torch.no_grad():
        ok = _success(g, z, s0)
        # The official code stops at the first step past g = 0.5; bisecting that last step lands on 0.5.
        z[ok] = _bisect(g, before[ok], z[ok], s0[ok])
    return z, ok


def _bisect(g, lo, hi, s0, rounds: int = 16):
    """Between lo (g not yet past 0.5) and hi (past it, label kept), the point nearest g = 0.5 that is past it."""
    for _ in range(rounds):
        mid = 0.5 * (lo + hi)
        past = _success(g, mid, s0)
        hi = torch_where(past, mid, hi)
        lo = torch_where(past, lo, mid)
    return hi


def torch_where(mask, a, b):
    return a * mask[:, None] + b * (~mask)[:, None]


def _g(g, z):
    """g's pre-sigmoid output on the sorted confidence vector of logits z (sorting keeps gradients)."""
    import torch

    return g(torch.sort(torch.softmax(z, 1), dim=1).values).squeeze(1)


def _success(g, z, s0):
    import torch

    s = torch.sigmoid(_g(g, z))
    keeps_label = z.argmax(1) == z.shape[1] - 1
    return keeps_label & ((s - 0.5) * (s0 - 0.5) <= 0)


def memguard_noise(g, logits: np.ndarray, *, max_iter: int = MAX_ITER) -> tuple[np.ndarray, np.ndarray]:
    """Phase I for a batch: (perturbed probability vectors in the original class order, success mask)."""
    import torch

    order = np.argsort(logits, axis=1, kind="stable")
    z0 = torch.as_tensor(np.take_along_axis(logits, order, 1), dtype=torch.float32)
    p0 = torch.softmax(z0, 1)
    best = z0.clone()
    found = torch.zeros(len(z0), dtype=torch.bool)
    undecided = (torch.sigmoid(_g(g, z0)) - 0.5).abs() <= 1e-5
    trying = ~undecided
    c3 = C3_START
    with torch.enable_grad():
        while trying.any() and c3 <= C3_MAX:
            idx = trying.nonzero().squeeze(1)
            z, ok = _search(g, z0[idx], p0[idx], c3, max_iter)
            best[idx[ok]] = z[ok].detach()
            found[idx[ok]] = True
            trying[idx[~ok]] = False  # keep the last success; stop escalating c₃
            c3 *= 10
    probs = torch.softmax(best, 1).numpy().astype(np.float64)
    out = np.empty_like(probs)
    np.put_along_axis(out, order, probs, 1)
    return out, (found | undecided).numpy()


def _coins(x: np.ndarray) -> np.ndarray:
    """One uniform number per query, a function of the query's bytes only."""
    rows = np.ascontiguousarray(np.asarray(x).reshape(len(x), -1))
    return np.array([int.from_bytes(hashlib.sha256(r.tobytes()).digest()[:8], "little") / 2**64 for r in rows])


class MemGuardPredictor(Predictor):
    def __init__(self, inner: Predictor, defender, epsilon: float):
        self.inner, self.defender, self.epsilon = inner, defender, float(epsilon)

    def predict_labels(self, x):
        return np.asarray(self.inner.predict_labels(x))

    def predict_scores(self, x):
        p0 = np.asarray(self.inner.predict_scores(x), dtype=np.float64)
        noisy, _ = memguard_noise(self.defender, np.log(np.maximum(p0, 1e-300)))
        dist = np.abs(noisy - p0).sum(axis=1)
        apply = _coins(x) < np.minimum(1.0, self.epsilon / np.maximum(dist, 1e-12))
        return np.where(apply[:, None], noisy, p0)


class MemGuard(Defense):
    name = "memguard"
    version = "3"  # 3: wired into the harness (defender fitted per model on its members vs population); 2: the paper's algorithm
    params = {"epsilon": 1.0, "defender_members": 1000, "defender_epochs": 400}
    prepares = True  # serving needs the defender fitted per model (``prepare``)

    def reference_size(self, train_size):
        return min(int(self.params["defender_members"]), int(train_size))

    def prepare(self, predictor: Predictor, members, reference, seed: int = 0):
        """Phase 0: the defender's classifier g, from the model's own members and its population reference data."""
        if reference is None or len(reference) == 0:
            raise ValueError("memguard: the defender's classifier needs reference (non-member) data from the population")
        n = int(self.params["defender_members"])
        rng = np.random.default_rng([seed, 0x3E3])
        m = members[np.sort(rng.choice(len(members), min(n, len(members)), replace=False))]
        return fit_defender(predictor.predict_scores(m.x), predictor.predict_scores(reference.x), seed=seed,
                            epochs=int(self.params["defender_epochs"]))

    def serve(self, predictor: Predictor, prepared=None) -> Predictor:
        if prepared is None:
            raise ValueError("memguard serves a model only with its fitted defender classifier: the harness calls "
                             "prepare(predictor, members, reference, seed) first and passes its result to serve")
        eps = float(self.params["epsilon"])
        if eps < 0:
            raise ValueError(f"memguard: the utility budget epsilon must be ≥ 0, got {eps}")
        return MemGuardPredictor(predictor, prepared, eps)


@hookimpl
def register_defenses(register):
    register(MemGuard)
