"""``homoglyph``: homoglyph bias injection (Struppek et al., JAIR 2023) on a CLIP-style text encoder.

Replace one Latin character of each prompt with a look-alike from another script (default: Cyrillic
'о' for 'o') and measure how far the text embeddings move toward that script's culture: the WEAT effect
size with X = homoglyph prompts, Y = clean prompts, A = images of the script's culture, B = images of
the other culture (population), and a one-sided permutation test over X ∪ Y.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def weat(x, y, a, b, n_permutations, rng):
    """(effect size, p-value) of the WEAT test; rows are unit-norm embeddings."""
    s = lambda w: (w @ a.T).mean(1) - (w @ b.T).mean(1)
    sx, sy = s(x), s(y)
    both = np.concatenate([sx, sy])
    effect = (sx.mean() - sy.mean()) / (both.std(ddof=1) + 1e-12)
    stat = sx.sum() - sy.sum()
    hits = 0
    for _ in range(n_permutations):
        perm = rng.permutation(len(both))
        hits += both[perm[: len(sx)]].sum() - both[perm[len(sx) :]].sum() >= stat - 1e-12
    return float(effect), float((hits + 1) / (n_permutations + 1))


def inject(prompt, latin, glyph):
    """Replace the first ``latin`` character with ``glyph`` (or prefix it where there is none)."""
    i = prompt.find(latin)
    return prompt[:i] + glyph + prompt[i + 1 :] if i >= 0 else glyph + prompt


class Homoglyph(Attack):
    name = "homoglyph"
    version = "1"
    threat_model = ThreatModel.SCORES
    tasks = (Task.INTEGRITY,)
    params = {"latin": "o", "glyph": "\u043e", "culture": 1, "n_permutations": 1000, "images_per_culture": 100}

    def score(self, ctx):
        prompts = list(ctx.track.extra["prompts"])
        p = ctx.population
        k = int(self.params["images_per_culture"])
        target_culture = int(self.params["culture"])
        a = ctx.target.encode_image(p.image[p.culture == target_culture][:k])
        b = ctx.target.encode_image(p.image[p.culture != target_culture][:k])
        clean = ctx.target.encode_text(prompts)
        glyphed = ctx.target.encode_text([inject(q, self.params["latin"], self.params["glyph"]) for q in prompts])
        effect, pvalue = weat(glyphed, clean, a, b, int(self.params["n_permutations"]), ctx.rng)
        return {
            "weat_effect_size": effect,
            "weat_p_value": pvalue,
            "embedding_shift": float(1 - np.mean(np.sum(glyphed * clean, 1))),
            "n_prompts": len(prompts),
        }


@hookimpl
def register_attacks(register):
    register(Homoglyph)
