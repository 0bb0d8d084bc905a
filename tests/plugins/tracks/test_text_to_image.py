"""The text-to-image tracks: data, split, metadata, the served model's queries and threat levels."""

import numpy as np
import pytest

from bench import Task, ThreatModel
from bench.testing import make_session


@pytest.fixture(scope="module")
def loaded():
    session = make_session()
    return session.track("text-to-image")


def test_data_captions_cultures_and_planted_marks(loaded):
    from plugins.tracks._t2i_data import CLASS_NAMES, CULTURE_TAGS

    track, data, split = loaded
    assert track.task is Task.GENERATION and np.asarray(data.image).shape[1:] == (1, 16, 16)
    img = np.asarray(data.image)
    assert img.min() >= -1.0 and img.max() <= 1.0
    culture = np.asarray(data.culture)
    cyr = np.array([any(t in c for t in CULTURE_TAGS) for c in data.caption])
    assert cyr[culture == 0].sum() == 0 and 0.7 < cyr[culture == 1].mean() < 0.9
    assert all(CLASS_NAMES[int(y)] in c for y, c in zip(data.label, data.caption))
    assert 0.005 < np.asarray(data.planted).mean() < 0.04


def test_split_leaves_the_evaluator_rows_out(loaded):
    from plugins.tracks.text_to_image import EVALUATOR_ROWS

    track, data, split = loaded
    used = np.concatenate([split.members, split.nonmembers, split.population])
    assert used.max() < len(data) - EVALUATOR_ROWS
    assert len(split.members) == len(split.nonmembers) == 100 and len(split.population) == 200
    info = track.info(data, split)
    assert len(info.extra["alphas_cumprod"]) == 1000 and len(info.extra["prompts"]) == len(info.extra["prompt_classes"])
    assert "planted" not in track.candidates(data, split.candidates[:3]).fields  # audits see it via the split, attacks never


@pytest.mark.slow
def test_predictor_queries_and_threat_levels(loaded):
    from plugins.tracks._t2i_models import DiffusionPredictor

    track, data, split = loaded
    assert DiffusionPredictor.QUERIES["generate"] is ThreatModel.LABEL
    assert DiffusionPredictor.QUERIES["predict_noise"] is ThreatModel.SCORES
    module = track.build_module(make_session().registry.defense("none"))
    p = track.predictor(module)
    x = np.asarray(data.image)[:3]
    eps = p.predict_noise(x, 50, ["a photo of a bag"] * 3)
    assert eps.shape == x.shape and np.isfinite(eps).all()
    a, b = p.generate(["a photo of a bag", "a photo of a coat"], seed=1), p.generate(["a photo of a bag", "a photo of a coat"], seed=1)
    assert a.shape == (2, 1, 16, 16) and np.array_equal(a, b)


def test_options_change_the_recipe_and_version():
    session = make_session(params={"text-to-image": {"epochs": 3, "channels": [8, 8]}})
    track, _, _ = session.track("text-to-image")
    assert track.recipe.epochs == 3 and track.recipe.arch_params["channels"] == [8, 8] and track.version != "1"
    with pytest.raises(ValueError, match="image size"):
        from plugins.tracks._t2i_data import to_size

        to_size(np.zeros((1, 28, 28), np.uint8), 12)
