"""EAT on synthetic-faces: finds a planted group–word association, not a visible trait without one.

The control that matters keeps the trait (group 1's red tint) and draws each identity's word independently of its
group (``association=trait``). A broken EAT fails it: the paper's image-permutation test holds the model fixed, and a
model whose tint happens to lie along "american" − "foreign" gave d ≈ 0.45 at p ≤ 0.01 on two of three seeds; an EAT
that does not look at the words, or that tests against a model-blind null, cannot tell the two tracks apart. The
planted track needs the words' direction to stand out among the model's own text directions (p < 0.01)."""

import numpy as np
import pytest

from bench.testing import make_context, make_session


def eat_on(association):
    session = make_session(params={"synthetic-faces": {"association": association}})
    ctx, _ = make_context("eat", track="synthetic-faces", session=session)
    return session.registry.attack("eat").score(ctx)


@pytest.mark.slow
def test_planted_association_is_found():
    m = eat_on("planted")
    assert m["eat_p_value"] < 0.01 and m["eat_effect_size"] > 0.4, m
    assert m["n_x"] >= 50 and m["n_y"] >= 50


@pytest.mark.slow
def test_trait_without_association_is_not_found():
    m = eat_on("trait")
    assert m["eat_p_value"] > 0.05, m


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_control_null_separates_a_word_direction_from_a_chance_one():
    """Groups differ along a trait direction t; words aligned with t are found, words orthogonal to it are not,
    however large the (model-fixed) image-permutation effect of the trait along other directions."""
    from plugins.attacks.eat import control_p_value

    rng = np.random.default_rng(0)
    dim = 32
    t = unit(rng.normal(size=dim))
    x, y = unit(rng.normal(size=(60, dim)) * 0.3 + t), unit(rng.normal(size=(60, dim)) * 0.3 - t)
    controls = unit(rng.normal(size=(200, dim)))
    along = unit(rng.normal(size=(8, dim)) * 0.3 + np.where(np.arange(8)[:, None] < 4, t, -t))
    ortho = unit(rng.normal(size=dim) - (rng.normal(size=dim) @ t) * t)
    off = unit(rng.normal(size=(8, dim)) * 0.3 + np.where(np.arange(8)[:, None] < 4, 1.0, -1.0) * (ortho - (ortho @ t) * t))
    assert control_p_value(x, y, along[:4], along[4:], controls, 500, np.random.default_rng(1)) < 0.01
    assert control_p_value(x, y, off[:4], off[4:], controls, 500, np.random.default_rng(1)) > 0.05
    with pytest.raises(ValueError, match="control texts"):
        control_p_value(x, y, along[:4], along[4:], controls[:5], 10, rng)


@pytest.mark.slow
def test_missing_groups_are_named():
    session = make_session()
    ctx, _ = make_context("eat", track="synthetic-faces", session=session)
    with pytest.raises(ValueError, match="no field 'group'"):
        session.registry.attack("eat").score(ctx)


@pytest.mark.slow
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
    m = session.registry.attack("eat", x_names=names[:10], y_names=names[10:], n_permutations=200, n_controls=200).score(ctx)
    assert m["n_x"] == 10 and m["n_y"] == 10 and 0.0 < m["eat_p_value"] <= 1.0 and np.isfinite(m["eat_effect_size"])
    assert 0.0 < m["eat_p_value_permutation"] <= 1.0
