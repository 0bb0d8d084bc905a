"""open_clip architectures for the multimodal tracks: built from configs offline, served, trained, loaded from a path."""

import numpy as np
import pytest

open_clip = pytest.importorskip("open_clip")  # the `clip` extra, installed by the README's set-up line

from bench.testing import make_session  # noqa: E402

TINY = "open_clip:privbench-tiny-vit"
REGISTRY = make_session().registry


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def test_track_option_selects_open_clip_and_versions_the_track(tmp_path):
    session = make_session(cache_dir=tmp_path / "c", params={"synthetic-faces": {"arch": TINY}})
    track, _, _ = session.track("synthetic-faces")
    assert track.recipe.arch == TINY and track.recipe.lr < 2e-3
    assert track.version != type(track).version  # run ids and cached models differ from the default track's
    default, _, _ = make_session(cache_dir=tmp_path / "c").track("synthetic-faces")
    assert default.recipe.arch == "small-clip" and default.version == type(default).version
    with pytest.raises(ValueError, match="no option 'archh'"):
        default.configure(archh=TINY)


def test_open_clip_target_serves_zero_shot_and_trains(tmp_path):
    import torch

    from plugins.tracks._mm_models import ClipPredictor, OpenClip

    track = REGISTRY.track("synthetic-faces")
    track.configure(arch=TINY)
    module = track.build_module(REGISTRY.defense("none"))
    assert isinstance(module, OpenClip) and isinstance(module.model, open_clip.CustomTextCLIP)
    images = np.random.default_rng(0).normal(size=(6, 3, 16, 16)).astype(np.float32)
    texts = ["a photo of Ada Abbott", "a photo of Alan Bauer", "a photo of Alice Costa"]
    p = ClipPredictor(module)
    scores = p.zero_shot_scores(images, texts)
    assert scores.shape == (6, 3) and np.allclose(scores.sum(1), 1)
    assert p.zero_shot_labels(images, texts).shape == (6,)
    # the BPE tokenizer sees a homoglyph: a Cyrillic 'о' changes the embedding
    a, b = p.encode_text(["a photo of Ada", "a phоto of Ada"])
    assert a @ b < 1 - 1e-4
    # one optimizer step moves the loss (the text tower is trainable, as text-tower attacks need)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    x = torch.as_tensor(images[:3])
    before = module.loss(x, texts)
    before.backward()
    assert any(q.grad is not None and q.grad.abs().sum() > 0 for q in module.text.parameters())
    opt.step()
    assert float(module.loss(x, texts).detach()) != pytest.approx(float(before.detach()))


def test_faces_target_starts_from_a_local_checkpoint(tmp_path):
    """Fine-tuning: a checkpoint in open_clip's standard layout (not custom-text) is loaded by path."""
    import torch

    from plugins.tracks._mm_models import ClipPredictor

    from plugins.tracks._mm_models import OPEN_CLIP_CONFIGS

    open_clip.add_model_config(OPEN_CLIP_CONFIGS)
    cfg = {k: v for k, v in open_clip.get_model_config("privbench-tiny-vit").items() if k != "custom_text"}
    source = open_clip.CLIP(**cfg)  # the usual CLIP layout, as released checkpoints have it
    assert hasattr(source, "positional_embedding")
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": source.state_dict()}, path)

    track = REGISTRY.track("synthetic-faces")
    track.configure(arch=TINY, pretrained=str(path))
    assert track.recipe.arch_params == {"pretrained": str(path)} and track.recipe.lr == pytest.approx(1e-5)
    module = track.build_module(REGISTRY.defense("none"))
    images = np.random.default_rng(1).normal(size=(4, 3, 16, 16)).astype(np.float32)
    source.eval()
    with torch.no_grad():
        want = torch.nn.functional.normalize(source.encode_image(torch.as_tensor(images)), dim=-1).double().numpy()
    assert np.allclose(ClipPredictor(module).encode_image(images), want, atol=1e-5)
    track.configure(arch=TINY, pretrained=str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError):
        track.build_module(REGISTRY.defense("none"))
