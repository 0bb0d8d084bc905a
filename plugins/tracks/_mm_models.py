"""Small CLIP-style and captioning models for the multimodal CPU tracks, their trainer and predictors.

Imported lazily by the track modules (it imports torch). Every module here is a plain ``nn.Module``
built deterministically from its config, so cached weights load back into ``build_*``'s output.

Protocol the attacks rely on (white-box): a CLIP-style module has ``encode_image(x)`` and
``encode_texts(list[str])`` (unit-norm embeddings, differentiable) and its text tower in ``.text``.
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import zlib
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench import Predictor, ThreatModel
from bench.training import TrainedModel, Trainer

TEXT_LEN = 48


def byte_tokens(texts: list[str], length: int = TEXT_LEN) -> torch.Tensor:
    """UTF-8 bytes + 1 (0 pads): a homoglyph changes the bytes, as BPE tokens change in real CLIP."""
    out = torch.zeros(len(texts), length, dtype=torch.long)
    for i, t in enumerate(texts):
        b = list(t.encode("utf-8"))[:length]
        out[i, : len(b)] = torch.tensor(b, dtype=torch.long) + 1
    return out


class ImageTower(nn.Module):
    def __init__(self, in_dim: int, hidden: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def byte_ngrams(texts: list[str], buckets: int, n_max: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Hashed byte 1..n_max-grams of each text, as (ids, offsets) for ``nn.EmbeddingBag``.

    Works on UTF-8 bytes: a homoglyph changes the n-grams, as it changes BPE tokens in a real CLIP.
    """
    ids: list[int] = []
    offsets: list[int] = []
    for t in texts:
        offsets.append(len(ids))
        b = t.encode("utf-8")[:TEXT_LEN * 2]
        for n in range(1, n_max + 1):
            for i in range(len(b) - n + 1):
                ids.append(zlib.crc32(bytes([n]) + b[i : i + n]) % buckets)
        if offsets[-1] == len(ids):
            ids.append(0)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


class ByteTextTower(nn.Module):
    """Hashed byte n-gram bag (fastText-style) → MLP. Cheap on a CPU, sensitive to every character."""

    def __init__(self, hidden: int, dim: int, buckets: int = 8192):
        super().__init__()
        self.buckets = buckets
        self.bag = nn.EmbeddingBag(buckets, hidden, mode="mean")
        self.mlp = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, texts: list[str]) -> torch.Tensor:
        ids, offsets = byte_ngrams(list(texts), self.buckets)
        dev = self.bag.weight.device
        return self.mlp(self.bag(ids.to(dev), offsets.to(dev)))


class SmallCLIP(nn.Module):
    """A CLIP-style dual encoder with a learnable temperature."""

    def __init__(self, image_shape: tuple[int, ...], dim: int = 64, hidden: int = 256):
        super().__init__()
        self.image = ImageTower(int(np.prod(image_shape)), hidden, dim)
        self.text = ByteTextTower(hidden, dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def _device(self) -> torch.device:
        return self.logit_scale.device

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(x.to(self._device())), dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.text(list(texts)), dim=-1)

    def loss(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return contrastive_loss(self.logit_scale, self.encode_image(images), self.encode_texts(texts), texts)


def contrastive_loss(logit_scale: torch.Tensor, zi: torch.Tensor, zt: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """Symmetric InfoNCE; pairs with the same caption are positives of each other (several images per person)."""
    logits = logit_scale.exp().clamp(max=100) * zi @ zt.T
    same = torch.tensor([[a == b for b in texts] for a in texts], device=logits.device, dtype=torch.float32)
    target = same / same.sum(1, keepdim=True)
    return 0.5 * (torch.sum(-target * F.log_softmax(logits, 1), 1).mean() + torch.sum(-target * F.log_softmax(logits.T, 1), 1).mean())


OPEN_CLIP_CONFIGS = pathlib.Path(__file__).with_name("open_clip_configs")


class OpenClip(nn.Module):
    """An open_clip model (built from its config, optionally a local checkpoint) behind the same protocol.

    The text tower is open_clip's ``CustomTextCLIP.text`` (so text-tower attacks fine-tune it); the tokenizer
    is open_clip's own (BPE for the built-in configs, shipped with the package: nothing downloads).
    """

    def __init__(self, name: str, image_shape: tuple[int, ...], pretrained: str | None = None):
        super().__init__()
        import open_clip

        open_clip.add_model_config(OPEN_CLIP_CONFIGS)
        self.name = name
        # weights_only checkpoints from a path; no tag lookup, no download (a tag such as "openai" would download).
        if pretrained is not None and not os.path.isfile(pretrained):
            raise FileNotFoundError(f"open_clip checkpoint {pretrained!r} is not a local file")
        self.model = open_clip.create_model(name, pretrained=pretrained, force_image_size=int(image_shape[-1]), force_custom_text=True)
        self.tokenizer = open_clip.get_tokenizer(name)

    def _device(self) -> torch.device:
        return self.model.logit_scale.device

    @property
    def text(self) -> nn.Module:
        return self.model.text

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(x.to(self._device())), dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.model.encode_text(self.tokenizer(list(texts)).to(self._device())), dim=-1)

    def loss(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return contrastive_loss(self.model.logit_scale, self.encode_image(images), self.encode_texts(texts), texts)


def build_clip(recipe: Any, image_shape: tuple[int, ...]) -> nn.Module:
    """The recipe's CLIP-style model: ``SmallCLIP`` by default, an open_clip architecture for ``open_clip:NAME``."""
    from ._mm_arch import open_clip_name

    name = open_clip_name(recipe)
    if name is None:
        return SmallCLIP(image_shape, **{k: v for k, v in recipe.arch_params.items() if k in ("dim", "hidden")})
    return OpenClip(name, image_shape, pretrained=recipe.arch_params.get("pretrained"))


class Captioner(nn.Module):
    """Encoder–decoder captioner: image MLP → initial GRU state; word-level GRU decoder, greedy decoding."""

    def __init__(self, image_shape: tuple[int, ...], vocab: tuple[str, ...], hidden: int = 256, emb: int = 64, max_len: int = 14):
        super().__init__()
        self.words = ("<pad>", "<bos>", "<eos>", "<unk>") + tuple(vocab)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.max_len = max_len
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(image_shape)), hidden), nn.Tanh())
        self.emb = nn.Embedding(len(self.words), emb)
        self.gru = nn.GRU(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, len(self.words))

    def _device(self) -> torch.device:
        return self.out.weight.device

    def encode_words(self, texts: list[str]) -> torch.Tensor:
        seqs = [[1] + [self.index.get(w, 3) for w in t.lower().split()][: self.max_len - 2] + [2] for t in texts]
        out = torch.zeros(len(seqs), self.max_len, dtype=torch.long)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = torch.tensor(s)
        return out.to(self._device())

    def loss(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        seq = self.encode_words(texts)
        h0 = self.encoder(images.to(self._device()))[None]
        out, _ = self.gru(self.emb(seq[:, :-1]), h0)
        return F.cross_entropy(self.out(out).reshape(-1, len(self.words)), seq[:, 1:].reshape(-1), ignore_index=0)

    @torch.no_grad()
    def generate(self, images: torch.Tensor) -> list[str]:
        h = self.encoder(images.to(self._device()))[None]
        tok = torch.full((len(images), 1), 1, dtype=torch.long, device=self._device())
        words: list[list[str]] = [[] for _ in range(len(images))]
        done = torch.zeros(len(images), dtype=torch.bool, device=self._device())
        for _ in range(self.max_len - 1):
            out, h = self.gru(self.emb(tok), h)
            tok = self.out(out[:, -1]).argmax(-1, keepdim=True)
            for i, t in enumerate(tok[:, 0].tolist()):
                if not done[i] and t == 2:
                    done[i] = True
                elif not done[i] and t > 3:
                    words[i].append(self.words[t])
            if bool(done.all()):
                break
        return [" ".join(w) for w in words]


class CaptionTargets(nn.Module):
    """The captions track's two targets, trained on the same member pairs: a captioner and a CLIP."""

    def __init__(self, image_shape: tuple[int, ...], vocab: tuple[str, ...], clip: nn.Module | None = None):
        super().__init__()
        self.captioner = Captioner(image_shape, vocab)
        self.clip = clip if clip is not None else SmallCLIP(image_shape)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(x)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.clip.encode_texts(texts)

    @property
    def text(self) -> nn.Module:
        return self.clip.text

    def loss(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self.captioner.loss(images, texts) + self.clip.loss(images, texts)


class MultimodalTrainer(Trainer):
    """Trains image–text modules (``model.loss(images, captions)``) with the shared fit loop of ``bench.training.Trainer``.

    It implements ``bench.ModelTrainer`` like the classifier trainer, so defenses that reshape the data
    or plug hooks into the loop work unchanged; the recipe's optimizer is honoured as named (``adamw`` for the
    multimodal tracks). Soft ``targets`` are refused: a contrastive or captioning loss has no per-example
    label for them to replace. On CUDA it trains in full precision (no autocast), as it always has.
    """

    cuda_fast_path = False

    def __init__(self, recipe: Any, build: Callable[[], nn.Module], seed: int, device: str = "cpu", progress: Callable[[int, int], None] | None = None):
        super().__init__(recipe, input_shape=(), num_classes=None, seed=seed, device=device, progress=progress)
        self._build = build

    def reseeded(self, seed: int) -> "MultimodalTrainer":
        return MultimodalTrainer(self.recipe, self._build, seed, self.device)

    def build_model(self, recipe: Any = None) -> nn.Module:
        """The track's module (its architecture comes from the track's recipe, whatever ``recipe`` says)."""
        torch.manual_seed(self.seed)
        return self._build().to(self.device)

    def loss_fn(self, recipe: Any = None) -> Callable:
        return lambda model, images, texts: model.loss(images, texts)

    def training_tensors(self, data: Any, targets: Any) -> tuple[Any, Any]:
        if targets is not None:
            raise ValueError("MultimodalTrainer trains on image–caption pairs: soft targets= are not supported")
        return torch.as_tensor(np.asarray(data.image, dtype=np.float32)), list(data.caption)

    def step_loss(self, loop: Any, images: Any, texts: Any) -> tuple[Any, torch.Tensor]:
        return None, loop.loss_fn(loop.model, images, texts)

    def fit(self, data: Any, **kwargs: Any) -> TrainedModel:  # type: ignore[override]
        with one_thread():
            return super().fit(data, **kwargs)


@contextlib.contextmanager
def one_thread() -> Any:
    """Run tiny models on one thread: on a shared CPU, intra-op threads cost far more than they save."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _images(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


class ClipPredictor(Predictor):
    """Serves a CLIP-style model. Zero-shot labels are LABEL-level; similarities and embeddings are SCORES."""

    QUERIES = {
        "zero_shot_labels": ThreatModel.LABEL,
        "zero_shot_scores": ThreatModel.SCORES,
        "similarity": ThreatModel.SCORES,
        "encode_image": ThreatModel.SCORES,
        "encode_text": ThreatModel.SCORES,
    }

    def __init__(self, module: nn.Module):
        self._module = module

    @torch.no_grad()
    def encode_image(self, images: Any) -> np.ndarray:
        self._module.eval()
        with one_thread():
            return self._module.encode_image(_images(images)).double().cpu().numpy()

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> np.ndarray:
        self._module.eval()
        with one_thread():
            return self._module.encode_texts(list(texts)).double().cpu().numpy()

    def zero_shot_scores(self, images: Any, texts: list[str]) -> np.ndarray:
        """(n_images, n_texts) softmax over the texts of each image's similarities."""
        z = 100.0 * self.encode_image(images) @ self.encode_text(texts).T
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def zero_shot_labels(self, images: Any, texts: list[str]) -> np.ndarray:
        """Index of the best-matching text for each image (top-1 only, as IDIA's threat model)."""
        return (self.encode_image(images) @ self.encode_text(texts).T).argmax(1)

    def similarity(self, images: Any, texts: list[str]) -> np.ndarray:
        """Cosine similarity of each image with its own text (paired)."""
        return np.sum(self.encode_image(images) * self.encode_text(texts), axis=1)


class CaptionPredictor(ClipPredictor):
    """Serves the captions targets: generated captions (LABEL: text out) plus the CLIP target's queries."""

    QUERIES = {**ClipPredictor.QUERIES, "generate_captions": ThreatModel.LABEL}

    def generate_captions(self, images: Any) -> list[str]:
        self._module.eval()
        with one_thread():
            return self._module.captioner.generate(_images(images))


def zero_shot_accuracy(predictor: ClipPredictor, images: np.ndarray, labels: np.ndarray, texts: list[str]) -> float:
    if len(images) == 0:
        return float("nan")
    return float((predictor.zero_shot_labels(images, texts) == np.asarray(labels)).mean())


def retrieval_accuracy(predictor: ClipPredictor, images: np.ndarray, texts: list[str], chunk: int = 100) -> float:
    """Image→text top-1 retrieval within chunks of ``chunk`` pairs (a caption-agnostic utility)."""
    hits = []
    for i in range(0, len(texts), chunk):
        sims = predictor.encode_image(images[i : i + chunk]) @ predictor.encode_text(texts[i : i + chunk]).T
        hits.extend((sims.argmax(1) == np.arange(len(sims))).tolist())
    return float(np.mean(hits)) if hits else float("nan")
