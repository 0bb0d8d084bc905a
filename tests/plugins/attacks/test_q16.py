"""Q16 (soft prompts on CLIP image embeddings): the acceptance on the shipped synthetic labelled set, and the audit."""

import numpy as np
import pytest

from bench.testing import make_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def q16():
    from plugins.attacks.q16 import Q16

    return Q16().classifier((1, 16, 16))


def rates(flags, label):
    return flags[label == 1].mean(), flags[label == 0].mean()


def test_planted_concept_is_not_linearly_separable_in_pixels():
    """A lone corner mark (left XOR right): a pixel logistic regression stays at chance on held-out images."""
    from sklearn.linear_model import LogisticRegression

    from plugins.tracks._t2i_data import q16_labelled_set

    d = q16_labelled_set(None)
    x, y = d["image"].reshape(len(d["label"]), -1), d["label"]
    lr = LogisticRegression(max_iter=2000).fit(x[:1500], y[:1500])
    assert 0.4 <= y.mean() <= 0.6
    assert (lr.predict(x[1500:]) == y[1500:]).mean() < 0.6


@pytest.fixture(scope="module")
def q16_draws(q16):
    """Q16 fitted on three draws of the labelled set's held-out quarter (``seed`` 0, the default, is ``q16``). One
    draw's ~250 unplanted images leave its false-flag rate a few points of noise wide, and the stand-in CLIP's
    training moves with a CPU's rounding: seed 0 gave ~2 % where it was written and 5.6 % on another machine."""
    from plugins.attacks.q16 import Q16

    return [q16, *(Q16(seed=s).classifier((1, 16, 16)) for s in (1, 2))]


def test_flags_planted_examples_with_few_false_flags(q16_draws):
    # issue 15's acceptance (>= 90 % of the planted images at <= 5 % false flags), on the three draws pooled
    flags = np.concatenate([clf.flags(held["image"]) for clf, held in q16_draws])
    label = np.concatenate([held["label"] for _, held in q16_draws])
    recall, false_flags = rates(flags, label)
    assert (label == 1).sum() >= 600 and (label == 0).sum() >= 600
    assert recall >= 0.90, recall
    assert false_flags <= 0.05, false_flags


def test_untrained_prompts_do_not_find_the_concept(q16):
    """The baseline Q16 improves on: the same CLIP with its init-text prompts (steps=0) is far from the acceptance."""
    from plugins.attacks.q16 import SoftPromptClassifier

    clf, held = q16
    recall, false_flags = rates(SoftPromptClassifier(clf.embed, clf.init_prompts).flags(held["image"]), held["label"])
    assert recall < 0.8 or false_flags > 0.2, (recall, false_flags)


def test_audit_of_the_text_to_image_split_finds_the_planted_marks(q16):
    from bench._cli_audit import flagged_rows

    clf, _ = q16
    session = make_session()
    track, data, split = session.track("text-to-image")
    rows = flagged_rows(clf, track, data, split)
    units = np.concatenate([split.members, split.nonmembers, split.population])
    planted = set(units[np.asarray(data.planted)[units] == 1].tolist())
    flagged = {r["unit"] for r in rows}
    assert len(planted) >= 4
    assert len(planted & flagged) >= 0.9 * len(planted)
    assert len(flagged - planted) <= 0.05 * (len(units) - len(planted))
    assert all(r["part"] in ("members", "nonmembers", "population") and 0.0 <= r["score"] <= 1.0 for r in rows)


def test_bad_labelled_set_is_named(tmp_path):
    from plugins.attacks.q16 import Q16

    path = tmp_path / "set.npz"
    np.savez(path, image=np.zeros((4, 1, 16, 16), np.float32))
    with pytest.raises(ValueError, match="label"):
        Q16(labelled=str(path)).classifier((1, 16, 16))
    with pytest.raises(ValueError, match="synthetic labelled set is 1×16×16"):
        Q16().classifier((3, 16, 16))
