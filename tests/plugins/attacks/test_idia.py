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


@pytest.mark.slow
def test_idia_detects_members_and_trends(session):
    hit, is_member, occ = _detect(session)
    fpr = hit[~is_member].mean()
    assert fpr <= 0.1
    often = hit[is_member & (occ >= 8)].mean()
    assert often >= 0.8
    rates = [hit[is_member & (occ == k)].mean() for k in (1, 2, 4, 8, 16)]
    assert rates[0] < rates[-1] and np.mean(rates[:2]) < np.mean(rates[3:])
    one, _, _ = _detect(session, images_per_person=1, num_prompts=1)
    # One image and one prompt never detect more members than the vote over many (50 identities: ties happen).
    assert one[is_member].mean() <= hit[is_member].mean()


class _Namer:
    """A zero-shot model that names the persons in ``known`` right on every image and guesses for the others."""

    def __init__(self, known, rng):
        self.known, self.rng = set(known), rng

    def zero_shot_labels(self, images, texts):
        true_name = texts[0].split(" of ")[-1]
        if true_name in self.known:
            return np.zeros(len(images), dtype=int)
        return self.rng.integers(0, len(texts), size=len(images))


def test_a_person_is_a_member_when_most_prompts_name_them(fake_context):
    import types

    from bench import Candidates
    from plugins.attacks.idia import IDIA

    names = [f"person {i}" for i in range(40)]
    cands = Candidates(images=np.zeros((6, 8, 3, 4, 4), dtype=np.float32), name=names[:6])
    track = types.SimpleNamespace(extra={"names": names, "templates": ["a photo of {}", "an image of {}", "a picture of {}"]})
    ctx = fake_context(cands, _Namer(names[:3], np.random.default_rng(1)), track=track)
    scores = IDIA(num_candidates=20).score(ctx)
    assert ctx.threshold == 0.5
    assert (scores[:3] > 1.0).all()  # every prompt's majority vote names them, and every image does
    assert (scores[3:] < 0.5).all()  # guesses among 20 names almost never win the vote
