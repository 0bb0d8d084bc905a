"""``m4i-mb`` and ``m4i-fb``: M⁴I, multimodal membership inference on captioners (Hu et al., NeurIPS 2022).

Both query only the target's generated captions (LABEL). Metric-based (MB): the similarity of the
generated caption to the reference — mean of BLEU-4 (nltk) and ROUGE-L F1 (rouge-score); the threshold
is calibrated on one shadow captioner. Feature-based (FB): shadow models trained by the harness on the
population give labelled IN/OUT examples; a multimodal feature extractor (another shadow's CLIP tower,
trained on population data) embeds image, generated caption and reference; a logistic-regression head
on [BLEU, ROUGE-L, cos(image, generated), cos(generated, reference)] scores.
"""

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl


def text_metrics(generated, references):
    """(n, 2): BLEU-4 (smoothed) and ROUGE-L F1 of each generated caption against its reference."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_score import rouge_scorer

    smooth = SmoothingFunction().method1
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    out = np.zeros((len(generated), 2))
    for i, (g, r) in enumerate(zip(generated, references)):
        out[i, 0] = sentence_bleu([r.split()], g.split(), smoothing_function=smooth) if g.strip() else 0.0
        out[i, 1] = scorer.score(r, g)["rougeL"].fmeasure
    return out


def features(extractor, images, generated, references):
    """Metric features plus an extractor's view of the (image, generated, reference) triple."""
    zi = extractor.encode_image(images)
    zg = extractor.encode_text([g if g.strip() else "." for g in generated])
    zr = extractor.encode_text(references)
    # cos(image, reference) is left out: it mostly measures whether the extractor itself saw the pair.
    sims = np.stack([np.sum(zi * zg, 1), np.sum(zg * zr, 1)], axis=1)
    return np.concatenate([text_metrics(generated, references), sims], axis=1)


class M4IMetric(Attack):
    name = "m4i-mb"
    version = "1"
    threat_model = ThreatModel.LABEL
    tasks = (Task.IMAGE_TEXT,)
    params = {"calibration_shadows": 1}

    def score(self, ctx):
        from plugins.attacks._shared import calibrate_on_shadows

        c = ctx.candidates
        scores = text_metrics(ctx.target.generate_captions(c.image), c.caption).mean(1)
        calibrate_on_shadows(ctx, lambda s, pool: text_metrics(s.generate_captions(pool.image), pool.caption).mean(1), int(self.params["calibration_shadows"]))
        return scores


class M4IFeature(Attack):
    name = "m4i-fb"
    version = "1"
    threat_model = ThreatModel.LABEL
    tasks = (Task.IMAGE_TEXT,)
    params = {"shadows": 2}

    def score(self, ctx):
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        n = max(2, int(self.params["shadows"]))
        shadows = ctx.shadows(n)
        pool = shadows.pool
        xs, ys = [], []
        for i, s in enumerate(shadows):
            extractor = shadows[(i + 1) % n]  # trained on other population halves than shadow i's labels
            xs.append(features(extractor, pool.image, s.generate_captions(pool.image), pool.caption))
            ys.append(shadows.inclusion[i])
        scaler = StandardScaler().fit(np.concatenate(xs))
        head = LogisticRegression(max_iter=1000).fit(scaler.transform(np.concatenate(xs)), np.concatenate(ys))
        c = ctx.candidates
        x = features(shadows[0], c.image, ctx.target.generate_captions(c.image), c.caption)
        ctx.set_threshold(0.0)  # the head's decision boundary (log-odds 0)
        return head.decision_function(scaler.transform(x))


@hookimpl
def register_attacks(register):
    register(M4IMetric)
    register(M4IFeature)
