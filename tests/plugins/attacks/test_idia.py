"""IDIA on synthetic-faces: members are detected, and detection rises with occurrences and query images."""

import numpy as np
import pytest

from bench.testing import make_context, make_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_session(cache_dir=tmp_path_factory.mktemp("cache"))


def _detect(session, **params):
    ctx, is_member = make_context("idia", track="synthetic-faces", session=session, **params)
    scores = session.registry.attack("idia", **params).score(ctx)
    track, _, split = session.track("synthetic-faces")
    occ = np.array([track.occurrences(int(u)) if m else 0 for u, m in zip(split.candidates, is_member)])
    return scores > 0.5, is_member, occ


def test_idia_detects_members_and_trends(session):
    hit, is_member, occ = _detect(session)
    fpr = hit[~is_member].mean()
    assert fpr <= 0.1
    often = hit[is_member & (occ >= 8)].mean()
    assert often >= 0.8
    rates = [hit[is_member & (occ == k)].mean() for k in (1, 2, 4, 8, 16)]
    assert rates[0] < rates[-1] and np.mean(rates[:2]) < np.mean(rates[3:])
    one, _, _ = _detect(session, images_per_person=1, num_prompts=1)
    assert one[is_member].mean() < hit[is_member].mean()
