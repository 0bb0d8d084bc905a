"""The ``text-to-image`` target: the suite's CLIP text encoder conditioning a small ``diffusers`` UNet.

A DALL-E 2 / unCLIP-style pipeline scaled to a CPU: ``SmallCLIP`` (the suite's dual encoder, byte n-gram
text tower) is trained contrastively on the captions, and a ``diffusers.UNet2DConditionModel`` learns
ε-prediction (DDPM, Ho et al. 2020: L = E‖ε − ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t, c)‖²) conditioned on the
text embedding c, projected into the timestep embedding (unCLIP's "project CLIP embeddings and add them
to the timestep embedding"; ``class_embed_type="projection"``). No cross-attention blocks: on a shared CPU
they cost 40 % more per step for a one-token context that the projection already carries. The UNet sees c with a
stop-gradient, so the text encoder is a CLIP trained on its own objective, as in the real pipelines.
Conditioning is dropped for 10 % of the pairs (classifier-free guidance, Ho & Salimans 2022).
Sampling is DDIM (``diffusers.DDIMScheduler``). Imported lazily (torch, diffusers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench import Predictor, ThreatModel

from ._mm_models import SmallCLIP, one_thread

__all__ = ["TextToImageModel", "DiffusionPredictor", "build_text_to_image", "linear_alphas_cumprod"]

NUM_TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 1e-4, 0.02  # DDPM's linear schedule


def linear_alphas_cumprod(T: int = NUM_TRAIN_TIMESTEPS) -> np.ndarray:
    """ᾱ_t of DDPM's linear β schedule (public: attacks read it from the track metadata)."""
    return np.cumprod(1.0 - np.linspace(BETA_START, BETA_END, T, dtype=np.float64))


class TextToImageModel(nn.Module):
    """Text encoder (``clip``) + conditional UNet (``unet``); ``text`` is the text tower (Rickrolling's target)."""

    def __init__(self, image_shape: tuple[int, ...], dim: int = 64, hidden: int = 256, channels: tuple[int, ...] = (8, 16),
                 p_uncond: float = 0.1):
        super().__init__()
        from diffusers import UNet2DConditionModel

        self.image_shape = tuple(image_shape)
        self.p_uncond = float(p_uncond)
        self.clip = SmallCLIP(self.image_shape, dim=dim, hidden=hidden)
        c, h = int(image_shape[0]), int(image_shape[-1])
        self.unet = UNet2DConditionModel(
            sample_size=h, in_channels=c, out_channels=c, block_out_channels=tuple(channels),
            down_block_types=("DownBlock2D",) * len(channels), up_block_types=("UpBlock2D",) * len(channels),
            mid_block_type="UNetMidBlock2D", layers_per_block=1, cross_attention_dim=dim,
            norm_num_groups=8, class_embed_type="projection", projection_class_embeddings_input_dim=dim,
        )
        self.register_buffer("alphas_cumprod", torch.tensor(linear_alphas_cumprod(), dtype=torch.float32))

    @property
    def text(self) -> nn.Module:
        return self.clip.text

    def _device(self) -> torch.device:
        return self.alphas_cumprod.device

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.clip.encode_texts(texts)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(x)

    def eps(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """ε_θ(x_t, t, c) for text embeddings c (zeros: the unconditional model)."""
        t = t.to(self._device()).long().expand(len(x_t)) if t.ndim == 0 else t.to(self._device()).long()
        return self.unet(x_t.to(self._device()), t, encoder_hidden_states=cond[:, None, :], class_labels=cond).sample

    def condition(self, texts: list[str]) -> torch.Tensor:
        return self.encode_texts(list(texts)).detach()

    def loss(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """CLIP's contrastive loss (text encoder) + DDPM's simple loss (UNet, on the detached text embedding)."""
        images = images.to(self._device())
        clip_loss = self.clip.loss(images, texts)
        cond = self.condition(texts)
        keep = (torch.rand(len(images), device=images.device) >= self.p_uncond).float()[:, None]
        t = torch.randint(0, len(self.alphas_cumprod), (len(images),), device=images.device)
        noise = torch.randn_like(images)
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * images + (1 - a).sqrt() * noise
        return clip_loss + F.mse_loss(self.eps(x_t, t, cond * keep), noise)

    @torch.no_grad()
    def sample(self, texts: list[str], generator: torch.Generator, steps: int = 10, guidance: float = 2.0) -> torch.Tensor:
        """DDIM (η = 0) samples for the texts, with classifier-free guidance."""
        from diffusers import DDIMScheduler

        sched = DDIMScheduler(num_train_timesteps=len(self.alphas_cumprod), beta_start=BETA_START, beta_end=BETA_END,
                              beta_schedule="linear", clip_sample=True, set_alpha_to_one=True)
        sched.set_timesteps(steps)
        cond = self.condition(texts)
        x = torch.randn((len(texts), *self.image_shape), generator=generator).to(self._device())
        for t in sched.timesteps:
            tt = t.expand(len(x))
            eps = self.eps(x, tt, cond)
            if guidance != 1.0:
                uncond = self.eps(x, tt, torch.zeros_like(cond))
                eps = uncond + guidance * (eps - uncond)
            x = sched.step(eps, t, x).prev_sample
        return x.clamp(-1, 1)


def build_text_to_image(recipe: Any, image_shape: tuple[int, ...]) -> TextToImageModel:
    p = dict(recipe.arch_params)
    return TextToImageModel(image_shape, dim=int(p.get("dim", 64)), hidden=int(p.get("hidden", 256)),
                            channels=tuple(p.get("channels", (8, 16))), p_uncond=float(p.get("p_uncond", 0.1)))


class DiffusionPredictor(Predictor):
    """Serves a text-to-image model.

    ``generate`` (generated images only) is LABEL-level: what any user of the deployed generator sees.
    ``predict_noise`` (the noise prediction ε_θ(x_t, t, c), the quantity the white-box-ish diffusion
    membership attacks need) and the text encoder's embeddings are SCORES-level.
    """

    QUERIES = {"generate": ThreatModel.LABEL, "predict_noise": ThreatModel.SCORES, "encode_text": ThreatModel.SCORES,
               "encode_image": ThreatModel.SCORES}

    def __init__(self, module: TextToImageModel, steps: int = 10, guidance: float = 2.0, batch: int = 256):
        self._module, self._steps, self._guidance, self._batch = module, int(steps), float(guidance), int(batch)

    def generate(self, prompts: list[str], seed: int = 0) -> np.ndarray:
        """One image per prompt; image i's initial noise depends only on (seed, i), so reruns are paired."""
        self._module.eval()
        gen = torch.Generator().manual_seed(int(seed))
        prompts = list(prompts)
        out = []
        with one_thread():
            for i in range(0, len(prompts), self._batch):
                out.append(self._module.sample(prompts[i : i + self._batch], gen, self._steps, self._guidance).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, *self._module.image_shape), np.float32)

    @torch.no_grad()
    def predict_noise(self, x_t: Any, t: Any, prompts: list[str]) -> np.ndarray:
        """ε_θ(x_t, t, c(prompt)) per row; ``t`` an int or one per row (0 ≤ t < 1000)."""
        self._module.eval()
        x = torch.as_tensor(np.asarray(x_t, dtype=np.float32))
        tt = torch.as_tensor(np.broadcast_to(np.asarray(t, dtype=np.int64), (len(x),)).copy())
        out = []
        with one_thread():
            for i in range(0, len(x), self._batch):
                cond = self._module.condition(list(prompts[i : i + self._batch]))
                out.append(self._module.eps(x[i : i + self._batch], tt[i : i + self._batch], cond).double().cpu().numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> np.ndarray:
        self._module.eval()
        with one_thread():
            return self._module.encode_texts(list(texts)).double().cpu().numpy()

    @torch.no_grad()
    def encode_image(self, images: Any) -> np.ndarray:
        self._module.eval()
        with one_thread():
            return self._module.encode_image(torch.as_tensor(np.asarray(images, dtype=np.float32))).double().cpu().numpy()
