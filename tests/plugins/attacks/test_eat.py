"""EAT on synthetic-faces: finds a planted group–word association, not an absent one."""

import pytest

from bench.testing import make_context, make_session

pytestmark = pytest.mark.slow


def eat_on(association):
    session = make_session(params={"synthetic-faces": {"association": association}})
    ctx, _ = make_context("eat", track="synthetic-faces", session=session)
    return session.registry.attack("eat").score(ctx)


def test_planted_association_is_found():
    m = eat_on("planted")
    assert m["eat_p_value"] < 0.01 and m["eat_effect_size"] > 0.4, m
    assert m["n_x"] >= 50 and m["n_y"] >= 50


def test_absent_association_is_not_found():
    m = eat_on("absent")
    assert m["eat_p_value"] > 0.05, m


def test_missing_groups_are_named():
    session = make_session()
    ctx, _ = make_context("eat", track="synthetic-faces", session=session)
    with pytest.raises(ValueError, match="no field 'group'"):
        session.registry.attack("eat").score(ctx)


def test_runs_on_an_open_clip_checkpoint_from_a_local_path(tmp_path):
    """The path ``--set faces.pretrained=CKPT`` takes: an open_clip model loaded from a local checkpoint, groups by name."""
    open_clip = pytest.importorskip("open_clip")
    import types

    import numpy as np
    import torch

    from bench import Candidates
    from plugins.tracks._mm_models import OPEN_CLIP_CONFIGS, ClipPredictor

    open_clip.add_model_config(OPEN_CLIP_CONFIGS)
    cfg = {k: v for k, v in open_clip.get_model_config("privbench-tiny-vit").items() if k != "custom_text"}
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": open_clip.CLIP(**cfg).state_dict()}, path)
    session = make_session()
    track = session.registry.track("faces")
    track.configure(arch="open_clip:privbench-tiny-vit", pretrained=str(path), image_size=16)
    predictor = ClipPredictor(track.build_module(session.registry.defense("none")))
    rng = np.random.default_rng(0)
    names = [f"person {i}" for i in range(20)]
    population = Candidates(images=rng.normal(size=(20, 2, 3, 16, 16)).astype(np.float32), name=names)
    ctx = types.SimpleNamespace(population=population, target=predictor, rng=np.random.default_rng(1))
    m = session.registry.attack("eat", x_names=names[:10], y_names=names[10:], n_permutations=200).score(ctx)
    assert m["n_x"] == 10 and m["n_y"] == 10 and 0.0 < m["eat_p_value"] <= 1.0 and np.isfinite(m["eat_effect_size"])
