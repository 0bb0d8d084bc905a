"""``eat``: the embedding association test of a CLIP-like model (Wolfe & Caliskan, "American == White in
Multimodal Language-and-Image AI", AIES 2022), after WEAT (Caliskan et al., Science 2017).

Threat model: image and text embeddings of the model (``encode_image``/``encode_text``, SCORES). Targets are
images of two groups X and Y (one image per person: the attacker's population, grouped by a field such as
``group`` or by lists of names), attributes are two word sets A and B (default: our short "american" vs
"foreign" lists, after the paper's collective in-group test; pass the paper's stimuli as ``attributes_a``/``_b``). With unit-norm embeddings and cos = dot product,

    s(w, A, B) = mean_{a∈A} cos(w, a) − mean_{b∈B} cos(w, b)
    d = (mean_{x∈X} s(x, A, B) − mean_{y∈Y} s(y, A, B)) / std_{w∈X∪Y} s(w, A, B)       (effect size)
    p = P_i[Σ_{x∈X_i} s − Σ_{y∈Y_i} s ≥ observed]  over random equal-size partitions (X_i, Y_i) of X ∪ Y

(one-sided permutation test; ``homoglyph.weat``), reported as ``eat_p_value_permutation``. The paper reports
d > 0.4 for White vs Asian faces on CLIP.

That permutation test holds the model fixed: it asks whether *this* model's images of X and Y differ along
s(·, A, B), and any visible difference between the groups (a trait) differs along almost every direction of a
trained embedding space, by chance more or less along A − B. Trained on words drawn independently of the group,
models still show d ≈ 0.45 at p ≤ 0.01 (two of three seeds on ``synthetic-faces`` with ``association=trait``).
``eat_p_value`` therefore tests against a null over the model's text directions: under H0 (the words carry no
information about the group) the direction A − B is, relative to the groups' image difference, as arbitrary as
the difference between any two sets of texts the model embeds, so

    p = P_j[d(X, Y, C_j, D_j) ≥ d(X, Y, A, B)]      (C_j, D_j: disjoint random draws of |A| and |B| control texts)

over ``n_controls`` draws from ``control_texts`` (default: "a photo of {name}" for the population's names: texts
of the model's caption form with no group word). It stands in for shadow models retrained with the words
shuffled across groups (the same question over training draws): on ``synthetic-faces`` it gives p ≤ 0.001 with
the association planted (seeds 0, 1) and p = 0.25 / 0.16 / 0.55 with the trait kept and the words independent (seeds
0, 1, 2; the permutation test gave 0.01 / 0.005 / 0.60 there).
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl

from .homoglyph import weat

IN_GROUP = ["american", "an american", "american person", "a photo of an american"]
OUT_GROUP = ["foreign", "a foreigner", "foreign person", "a photo of a foreigner"]


def group_images(population, params):
    """(X images, Y images): one image per person of each group, at most ``per_group`` each."""
    images = population.image if "image" in population.fields else population.images[:, 0]  # faces: first held-out view
    if params.get("x_names") or params.get("y_names"):
        names = np.asarray(population.name)
        x, y = np.isin(names, list(params.get("x_names") or [])), np.isin(names, list(params.get("y_names") or []))
    else:
        field = str(params["group_field"])
        if field not in population.fields:
            raise ValueError(f"eat: the population has no field {field!r} (fields: {', '.join(population.fields)}); "
                             "set group_field=, or x_names=/y_names= to group people by name")
        g = np.asarray(getattr(population, field))
        x, y = g == params["x_group"], g == params["y_group"]
    k = int(params["per_group"])
    if x.sum() < 2 or y.sum() < 2:
        raise ValueError(f"eat needs at least 2 images per group; found {int(x.sum())} in X and {int(y.sum())} in Y")
    return images[x][:k], images[y][:k]


def effect_size(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """WEAT's d for unit-norm image embeddings ``x``, ``y`` and attribute text embeddings ``a``, ``b``."""
    return weat(x, y, a, b, 0, None)[0]


def control_p_value(x, y, a, b, controls: np.ndarray, n_controls: int, rng) -> float:
    """P(d along random control text sets of sizes |A|, |B| ≥ d along A, B), with the +1 correction."""
    if len(controls) < len(a) + len(b):
        raise ValueError(f"eat needs at least {len(a) + len(b)} control texts (|A| + |B|); got {len(controls)}: pass control_texts=")
    observed, hits = effect_size(x, y, a, b), 0
    for _ in range(n_controls):
        pick = rng.permutation(len(controls))[: len(a) + len(b)]
        hits += effect_size(x, y, controls[pick[: len(a)]], controls[pick[len(a) :]]) >= observed - 1e-12
    return float((hits + 1) / (n_controls + 1))


def control_texts(population, params) -> list[str]:
    if params.get("control_texts"):
        return list(params["control_texts"])
    if "name" not in population.fields:
        raise ValueError("eat: the population has no names to build control texts from; pass control_texts= (texts with no group word)")
    return [f"a photo of {n}" for n in population.name]


class EAT(Attack):
    name = "eat"
    version = "2"
    threat_model = ThreatModel.SCORES
    tasks = (Task.INTEGRITY,)
    params = {"group_field": "group", "x_group": 0, "y_group": 1, "x_names": None, "y_names": None,
              "attributes_a": IN_GROUP, "attributes_b": OUT_GROUP, "per_group": 100, "n_permutations": 2000,
              "control_texts": None, "n_controls": 2000}

    def score(self, ctx):
        xi, yi = group_images(ctx.population, self.params)
        x, y = ctx.target.encode_image(xi), ctx.target.encode_image(yi)
        a, b = ctx.target.encode_text(list(self.params["attributes_a"])), ctx.target.encode_text(list(self.params["attributes_b"]))
        # weat(x, y, a, b) permutes the targets: here the targets are images, the attributes words.
        effect, p_images = weat(x, y, a, b, int(self.params["n_permutations"]), ctx.rng)
        controls = ctx.target.encode_text(control_texts(ctx.population, self.params))
        p = control_p_value(x, y, a, b, controls, int(self.params["n_controls"]), ctx.rng)
        return {"eat_effect_size": effect, "eat_p_value": p, "eat_p_value_permutation": p_images, "n_x": len(x), "n_y": len(y)}


@hookimpl
def register_attacks(register):
    register(EAT)
