"""``ner-timing``: the vocabulary timing side channel of NER services (Ali et al., PoPETs 2023, attack 2).

A spaCy pipeline keeps the words of its training text in its vocabulary (lexemes, tokenizer cache). A word
it holds is answered along a shorter path than a word it has never seen, which must be tokenized and get
its lexical attributes computed first. The attacker submits each candidate secret alone and sees only how
long the answer took (threat model ``timing``: no entities, no scores).

Timings on a shared machine are noisy and skewed (noise only ever adds time), so the attack (i) pairs each
query of a secret with a query of a *decoy*, the secret's characters shuffled within their classes (same
length and shape, surely unseen), back to back in random order; (ii) repeats the pairs over ``rounds``
rounds, each in a new random order of candidates; (iii) reads each secret's time at a low quantile q of its
rounds (``quantile``: 0.1; 0 is the minimum), the least-disturbed answers, against the same quantile of the
decoys of its kind (their median over all candidates of that entity label: a low-noise reference measured
under the same load):

    score(s) = (ref_kind(s) - q(t_s)) / ref_kind(s),   ref_kind = median over decoys d of that kind of q(t_d)

Members answer faster than unseen words: higher score = member. Every timed query is charged; ``rounds``
shrinks to fit the budget. The threshold is a Youden point on offline shadow pipelines timed the same way by the attacker itself.
"""

import numpy as np

from bench import Attack, BudgetExceeded, Task, ThreatModel, hookimpl


def decoy(word, rng):
    """``word`` with its lowercase letters, uppercase letters and digits each shuffled among their positions."""
    chars = list(word)
    for cls in (str.islower, str.isupper, str.isdigit):
        pos = [i for i, ch in enumerate(chars) if cls(ch)]
        for i, ch in zip(pos, rng.permutation([chars[i] for i in pos])):
            chars[i] = str(ch)
    return "".join(chars)


def paired_timings(timer, words, decoys, rounds, rng):
    """(rounds, n) timings of the words and of their decoys, each pair queried back to back in random order."""
    n = len(words)
    t_word, t_decoy = np.zeros((rounds, n)), np.zeros((rounds, n))
    for r in range(rounds):
        order = rng.permutation(n)
        first = rng.random(n) < 0.5  # word before its decoy?
        texts = []
        for i in order:
            pair = (words[i], decoys[i]) if first[i] else (decoys[i], words[i])
            texts.extend(pair)
        t = np.asarray(timer(texts), dtype=float).reshape(n, 2)
        t_word[r, order] = np.where(first[order], t[:, 0], t[:, 1])
        t_decoy[r, order] = np.where(first[order], t[:, 1], t[:, 0])
    return t_word, t_decoy


def contrast(t_word, t_decoy, groups, quantile):
    """Relative speed-up of each word over the decoys of its group, read at a low quantile of the rounds."""
    q_word = np.quantile(t_word, quantile, axis=0)
    q_decoy = np.quantile(t_decoy, quantile, axis=0)
    groups = np.asarray(groups)
    ref = np.empty(len(q_word))
    for g in np.unique(groups):
        ref[groups == g] = np.median(q_decoy[groups == g])
    return (ref - q_word) / np.maximum(ref, 1e-12)


def local_timer(serve):
    """Time the attacker's own pipeline the way the harness times the target: one text per call."""
    import time

    def timer(texts):
        out = np.empty(len(texts))
        for i, t in enumerate(texts):
            start = time.perf_counter()
            serve([t])
            out[i] = time.perf_counter() - start
        return out

    return timer


class NerTiming(Attack):
    name = "ner-timing"
    version = "1"
    threat_model = ThreatModel.TIMING
    tasks = (Task.TOKEN_CLASSIFICATION,)
    params = {"rounds": 64, "quantile": 0.1, "calibration_shadows": 1, "calibration_pool": 100}

    def score(self, ctx):
        c = ctx.candidates
        words = list(c.secret)
        rounds = min(int(self.params["rounds"]), ctx.budget.remaining_queries // (2 * len(words)))
        if rounds < 1:
            raise BudgetExceeded(f"ner-timing needs 2 timed queries per candidate and round; the budget leaves {ctx.budget.remaining_queries}")
        decoys = [decoy(w, ctx.rng) for w in words]
        t_word, t_decoy = paired_timings(ctx.target.timings, words, decoys, rounds, ctx.rng)
        scores = contrast(t_word, t_decoy, list(c.label), float(self.params["quantile"]))
        ctx.export("timing_rounds", np.full(len(words), rounds))
        self._calibrate(ctx, rounds)
        return scores

    def _calibrate(self, ctx, rounds):
        """Threshold from shadow pipelines timed with the same rounds (on up to ``calibration_pool`` pool secrets)."""
        from ._shared import youden

        n = int(self.params["calibration_shadows"])
        if n < 1:
            return
        shadows = ctx.shadows(n)
        pick = np.sort(ctx.rng.permutation(len(shadows.pool))[: int(self.params["calibration_pool"])])
        words = [shadows.pool.secret[int(i)] for i in pick]
        decoys = [decoy(w, ctx.rng) for w in words]
        values = []
        for s in shadows:
            t_word, t_decoy = paired_timings(local_timer(s.predict_entities), words, decoys, rounds, ctx.rng)
            values.append(contrast(t_word, t_decoy, [shadows.pool.label[int(i)] for i in pick], float(self.params["quantile"])))
        ctx.set_threshold(youden(np.concatenate(values), np.concatenate([row[pick] for row in shadows.inclusion])))


@hookimpl
def register_attacks(register):
    register(NerTiming)
