"""frozen-vocab: no training word stays in the served pipeline, utility holds, the timing side channel closes."""

import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session
from bench._runner import Cell


@pytest.mark.slow
def test_frozen_vocab_keeps_utility_and_closes_the_timing_channel(tmp_path):
    session = make_session(cache_dir=tmp_path)
    track, data, split = session.track("ner")
    plain = session.target(Cell("ner", "none", "ner-timing", 0, "smoke"))
    frozen = session.target(Cell("ner", "frozen-vocab", "ner-timing", 0, "smoke"))
    assert frozen["meta"]["defense_report"]["frozen_vocab"] is True
    vocab = frozen["module"].nlp.vocab
    assert not any(data.secret[int(u)] in vocab for u in split.members)
    assert all(data.secret[int(u)] in plain["module"].nlp.vocab for u in split.members)
    assert frozen["utility"]["test_accuracy"] >= plain["utility"]["test_accuracy"] - 0.05
    ctx, is_member = make_context("ner-timing", track="ner", defense="frozen-vocab", session=session)
    closed = auc(session.registry.attack("ner-timing").score(ctx), is_member)
    assert closed < 0.7  # undefended: > 0.75 (tests/plugins/attacks/test_ner_timing.py)
