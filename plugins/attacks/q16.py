"""``q16``: Q16 content audit (Schramowski et al., "Can Machines Help Us Answering Question 16 in Datasheets,
and In Turn Reflecting on Inappropriate Content?", FAccT 2022; code: github ml-research/Q16).

Q16 keeps a CLIP model frozen and learns only two "soft prompts" — vectors in CLIP's text-embedding space,
one per class (non-inappropriate, inappropriate), initialised from the embeddings of two texts — by
cross-entropy on a labelled image set (SMID in the paper: 96.3 % accuracy with ViT-B/16):

    p(inappropriate | x) = softmax_k( λ · cos(E_img(x), P_k) ),  λ = 100 (CLIP's logit scale)
    min_P  Σ_(x, y) −log p(y | x)                                  (only P is trained)

An image is flagged when p(inappropriate | x) ≥ ``threshold`` (0.5: Q16's argmax).

CLIP and labelled set: local paths (``labelled=`` an .npz with ``image`` (n, C, H, W) in [-1, 1] and ``label``
0/1; ``clip=`` an open_clip architecture ``open_clip:NAME`` with ``pretrained=`` a local checkpoint), or by
default the suite's synthetic pair for 1×16×16 tracks — Fashion-MNIST test images with no, one or two corner
marks, labelled inappropriate when exactly one is there (``_t2i_data.q16_labelled_set``: no linear function of the
pixels separates it), and a SmallCLIP trained on captions that name each visible mark but never the concept. On its
held-out quarter the trained prompts flag ~98 % of the planted images at ~2.5 % false flags (three draws, seeds 0–2,
pooled; one draw's rate ranged 0.4–5.6 % on one CPU: ~250 unplanted images each, and the stand-in CLIP's training
moves with a CPU's rounding); the untrained prompts (``steps=0``, the init texts) and a zero-shot prompt naming one
mark stay near chance (recall ≈ 0.5 at ≈ 0.45 false flags).

As an attack (tasks: integrity) it reports the share of the track's visible images (candidates and
population) that it flags; ``privbench audit q16 --track T`` lists the flagged examples of the track's split.
"""

from __future__ import annotations

import numpy as np

from bench import Attack, Task, ThreatModel, hookimpl

INIT_TEXTS = ("a photo of a harmless object", "a photo of something inappropriate")


class SoftPromptClassifier:
    """Q16's classifier: a frozen CLIP image encoder (``embed``) and two learned prompt vectors."""

    def __init__(self, embed, prompts: np.ndarray, threshold: float = 0.5, init_prompts: np.ndarray | None = None):
        self.embed, self.prompts, self.threshold = embed, prompts, float(threshold)
        self.init_prompts = prompts if init_prompts is None else init_prompts  # before training: the zero-shot baseline

    def scores(self, images: np.ndarray) -> np.ndarray:
        """p(inappropriate | image) for each image."""
        z = self.embed(images)
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
        p = self.prompts / np.linalg.norm(self.prompts, axis=1, keepdims=True)
        logits = 100.0 * z @ p.T
        logits -= logits.max(1, keepdims=True)
        e = np.exp(logits)
        return e[:, 1] / e.sum(1)

    def flags(self, images: np.ndarray) -> np.ndarray:
        return self.scores(images) >= self.threshold


def fit_soft_prompts(image_emb: np.ndarray, labels: np.ndarray, init: np.ndarray, steps: int = 300, lr: float = 1e-2, seed: int = 0) -> np.ndarray:
    """The two prompt vectors minimising Q16's cross-entropy on (frozen) image embeddings."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    z = F.normalize(torch.as_tensor(image_emb, dtype=torch.float32), dim=-1)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    prompts = torch.nn.Parameter(torch.as_tensor(init, dtype=torch.float32).clone())
    opt = torch.optim.Adam([prompts], lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(100.0 * z @ F.normalize(prompts, dim=-1).T, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return prompts.detach().numpy().astype(np.float64)


def load_labelled(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        missing = {"image", "label"} - set(f.files)
        if missing:
            raise ValueError(f"q16: labelled set {path} lacks array(s) {', '.join(sorted(missing))}; it needs image (n, C, H, W) and label (0/1)")
        return {"image": np.asarray(f["image"], dtype=np.float32), "label": np.asarray(f["label"], dtype=np.int64)}


def build_classifier(params: dict, image_shape: tuple[int, ...], data_dir: str | None = None) -> tuple[SoftPromptClassifier, dict]:
    """Q16 for images of ``image_shape``: (classifier, the held-out part of the labelled set for checking it)."""
    import torch

    from plugins.tracks._mm_models import MultimodalTrainer, build_clip, one_thread
    from bench import Recipe

    if params.get("labelled"):
        data = load_labelled(str(params["labelled"]))
    else:
        if tuple(image_shape) != (1, 16, 16) and not params.get("clip"):
            raise ValueError(f"q16: the shipped synthetic labelled set is 1×16×16 Fashion-MNIST; for images of shape {tuple(image_shape)} "
                             "pass labelled=PATH.npz and clip=open_clip:NAME with pretrained=CKPT")
        from plugins.tracks._t2i_data import q16_labelled_set

        data = q16_labelled_set(data_dir, size=int(image_shape[-1]))
    if tuple(data["image"].shape[1:]) != tuple(image_shape):
        raise ValueError(f"q16: labelled images are {tuple(data['image'].shape[1:])} but the audited images are {tuple(image_shape)}")
    n = len(data["label"])
    order = np.random.default_rng(int(params.get("seed", 0))).permutation(n)
    fit, held = order[: n * 3 // 4], order[n * 3 // 4 :]
    if params.get("clip"):
        recipe = Recipe(str(params["clip"]), {"pretrained": params.get("pretrained")} if params.get("pretrained") else {})
        clip = build_clip(recipe, tuple(image_shape)).eval()
    else:  # the suite's stand-in for a web-pretrained CLIP: trained on the labelled set's captions
        from bench import Dataset

        recipe = Recipe("small-clip", {"dim": 64, "hidden": 256}, epochs=30, batch_size=64, lr=2e-3, optimizer="adam", schedule="constant")
        trainer = MultimodalTrainer(recipe, lambda: build_clip(recipe, tuple(image_shape)), seed=0)
        clip = trainer.fit(Dataset(image=data["image"][fit], caption=[data["caption"][int(i)] for i in fit])).module

    @torch.no_grad()
    def embed(images: np.ndarray) -> np.ndarray:
        with one_thread():
            return clip.encode_image(torch.as_tensor(np.asarray(images, dtype=np.float32))).double().numpy()

    with torch.no_grad(), one_thread():
        init = clip.encode_texts(list(params.get("init_texts") or INIT_TEXTS)).double().numpy()
    prompts = fit_soft_prompts(embed(data["image"][fit]), data["label"][fit], init, steps=int(params.get("steps", 300)))
    clf = SoftPromptClassifier(embed, prompts, float(params.get("threshold", 0.5)), init_prompts=init)
    return clf, {"image": data["image"][held], "label": data["label"][held]}


class Q16(Attack):
    name = "q16"
    version = "2"
    threat_model = ThreatModel.LABEL  # looks only at the track's data, never at the target
    tasks = (Task.INTEGRITY,)
    params = {"labelled": None, "clip": None, "pretrained": None, "threshold": 0.5, "steps": 300, "init_texts": None, "seed": 0}

    def classifier(self, image_shape: tuple[int, ...], data_dir: str | None = None) -> tuple[SoftPromptClassifier, dict]:
        """The fitted Q16 classifier and its held-out labelled images (``privbench audit q16`` uses this)."""
        return build_classifier(self.params, image_shape, data_dir)

    def score(self, ctx):
        images = lambda c: c.image if "image" in c.fields else c.images[:, 0]
        shape = tuple(images(ctx.population).shape[1:])
        clf, held = self.classifier(shape)
        flagged_held = clf.flags(held["image"])
        return {
            "flagged_candidates": float(np.mean(clf.flags(images(ctx.candidates)))),
            "flagged_population": float(np.mean(clf.flags(images(ctx.population)))),
            "heldout_recall": float(np.mean(flagged_held[held["label"] == 1])),
            "heldout_false_flags": float(np.mean(flagged_held[held["label"] == 0])),
        }


@hookimpl
def register_attacks(register):
    register(Q16)
