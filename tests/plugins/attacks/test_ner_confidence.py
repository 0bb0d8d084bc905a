"""ner-confidence: the beam's confidence in the inserted entity is higher for memorized secrets."""

import numpy as np
import pytest

from bench import ThreatModel, ThreatModelViolation
from bench.metrics import auc
from bench.testing import make_context, make_session


@pytest.mark.slow
def test_ner_confidence_ranks_members_higher(tmp_path):
    session = make_session(cache_dir=tmp_path)
    ctx, is_member = make_context("ner-confidence", track="ner", session=session)
    with pytest.raises(ThreatModelViolation):
        ctx.target.module
    scores = session.registry.attack("ner-confidence").score(ctx)
    assert ((scores >= 0) & (scores <= 1)).all() and ctx.threshold is not None
    assert auc(scores, is_member) > 0.55
    label_only, _ = make_context("ner-confidence", track="ner", session=session)
    label_only.target._threat_model = ThreatModel.LABEL  # the same attack under a weaker threat model is refused
    with pytest.raises(ThreatModelViolation):
        session.registry.attack("ner-confidence").score(label_only)
    assert np.isfinite(scores).all()
