"""ner-timing: sees only times; pairs, repeats and low quantiles beat one-sided noise; detects members on ner."""

import numpy as np
import pytest

from bench import ThreatModel, ThreatModelViolation
from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.ner_timing import NerTiming, contrast, decoy, paired_timings


def test_decoy_keeps_length_and_shape_and_is_new():
    rng = np.random.default_rng(0)
    for word in ("k7qm2xw9pa", "QK4810293", "Renkovoenko"):
        d = decoy(word, rng)
        assert len(d) == len(word) and d != word and sorted(d) == sorted(word)
        assert [c.isdigit() for c in d] == [c.isdigit() for c in word] and [c.isupper() for c in d] == [c.isupper() for c in word]


def test_paired_timings_put_each_time_back_in_its_slot():
    words, decoys = ["a", "bb", "ccc"], ["x", "yy", "zzz"]
    cost = {"a": 1.0, "bb": 2.0, "ccc": 3.0, "x": 10.0, "yy": 20.0, "zzz": 30.0}
    seen = []

    def timer(texts):
        seen.append(list(texts))
        return [cost[t] for t in texts]

    tw, td = paired_timings(timer, words, decoys, 4, np.random.default_rng(1))
    assert (tw == [1.0, 2.0, 3.0]).all() and (td == [10.0, 20.0, 30.0]).all()
    assert len(seen) == 4 and len({tuple(s) for s in seen}) > 1  # a new random order each round
    for s in seen:  # each word sits right next to its own decoy
        for i in range(0, len(s), 2):
            assert {s[i], s[i + 1]} in ({"a", "x"}, {"bb", "yy"}, {"ccc", "zzz"})


def test_low_quantile_contrast_survives_heavy_one_sided_noise():
    rng = np.random.default_rng(0)
    n, rounds = 200, 32
    member = np.arange(n) < n // 2
    base = np.where(member, 0.95, 1.0)  # members' answers 5 % faster
    noise = lambda: rng.exponential(0.5, (rounds, n)) * (rng.random((rounds, n)) < 0.7)  # most answers delayed, by a lot
    tw, td = base + noise(), 1.0 + noise()
    groups = np.where(np.arange(n) % 2 == 0, "ID", "PASSWORD")
    robust = auc(contrast(tw, td, groups, 0.1), member)
    mean = auc(td.mean(0) - tw.mean(0), member)
    assert robust > 0.9 and robust > mean + 0.1


def test_timing_attack_sees_no_answers():
    assert NerTiming.threat_model is ThreatModel.TIMING
    for needed in (ThreatModel.LABEL, ThreatModel.SCORES, ThreatModel.EMBEDDINGS):
        assert not ThreatModel.TIMING.allows(needed)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_session(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
def test_ner_timing_detects_members_and_beats_a_coin_flip(session):
    ctx, is_member = make_context("ner-timing", track="ner", session=session)
    for forbidden in ("predict_entities", "entity_confidence", "module"):
        with pytest.raises(ThreatModelViolation):
            getattr(ctx.target, forbidden)
    scores = session.registry.attack("ner-timing").score(ctx)
    assert ctx.budget.used["queries"] <= ctx.budget.max_queries and ctx.threshold is not None
    # A timing side channel's strength depends on the machine and its load (0.74 on a busy CI machine, more when it is
    # quiet): assert the effect against chance with a margin, not one machine's AUC. Under no signal the AUC is
    # ~ N(0.5, se0); 3 se0 above it is p < 0.0015 one-sided.
    n1, n0 = int(is_member.sum()), int((~is_member).sum())
    se0 = np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    coin = auc(np.random.default_rng(0).random(len(is_member)), is_member)
    got = auc(scores, is_member)
    assert got > 0.5 + 3 * se0 and got > coin + 0.1, (got, se0, coin)
