"""encodermi: membership from the agreement of augmented views' embeddings; no labels anywhere."""

import numpy as np
import pytest

from bench import ThreatModel, ThreatModelViolation
from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.encodermi import EncoderMI, similarity_features


def test_similarity_features_measure_view_agreement():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=(4, 1, 16))
    tight = centre + 0.05 * rng.normal(size=(4, 10, 16))
    loose = centre + 1.0 * rng.normal(size=(4, 10, 16))
    unit = lambda e: e / np.linalg.norm(e, axis=2, keepdims=True)
    ft, fl = similarity_features(unit(tight)), similarity_features(unit(loose))
    assert ft.shape == (4, 45) and (np.diff(ft, axis=1) >= 0).all()  # sorted pairwise cosines
    assert (ft.mean(1) > fl.mean(1)).all() and np.allclose(similarity_features(unit(np.repeat(centre, 3, 1))), 1.0)


def test_encodermi_threat_model_is_embeddings_only():
    assert EncoderMI.threat_model is ThreatModel.EMBEDDINGS
    assert not any(ThreatModel.EMBEDDINGS.allows(t) for t in (ThreatModel.LABEL, ThreatModel.SCORES, ThreatModel.TIMING))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_session(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["threshold", "vector"])
def test_encodermi_never_receives_labels_and_detects_members(session, variant):
    ctx, is_member = make_context("encodermi", track="ssl-encoder-digits", budget="cpu", session=session, variant=variant)
    assert ctx.candidates.fields == ("x",) and ctx.population.fields == ("x",) and ctx.track.num_classes is None
    assert set(ctx.target.queries) == {"embed"}
    with pytest.raises(ThreatModelViolation):
        ctx.target.module
    with pytest.raises(AttributeError):
        ctx.target.predict_labels
    scores = session.registry.attack("encodermi", variant=variant).score(ctx)
    assert np.isfinite(scores).all() and ctx.threshold is not None
    assert auc(scores, is_member) > 0.55
