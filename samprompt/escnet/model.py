"""`ESCNet`: open-vocabulary semantic segmentation, `model(images, classes=[...])`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from samprompt.clip.dense import DenseClip, check_classes, correlation
from samprompt.clip.models import ClipBundle
from samprompt.core.base import require_family
from samprompt.core.images import check_image_tensor, image_array
from samprompt.core.sam_core import SamCore
from samprompt.errors import ConfigError, ImageFormatError
from samprompt.escnet.config import ESCNetConfig
from samprompt.escnet.layers import ESCBlock, UpsamplingDecoder
from samprompt.prompts.pseudo import PseudoPrompts, pseudo_prompts


@dataclass
class ESCNetOutput:
    """logits: B x K x H x W per-class logits at the input size; correlation: B x K x h x w raw
    CLIP cosine correlation; prompts: the pseudo prompts of the B x K (image, class) rows."""

    logits: Tensor
    correlation: Tensor
    prompts: PseudoPrompts

    @property
    def semantic(self) -> Tensor:
        """B x H x W class index (into the class list) of every pixel."""
        return self.logits.argmax(dim=1)


def as_image_batch(images: Tensor | np.ndarray | Image.Image | Sequence[np.ndarray | Image.Image]) -> Tensor:
    """A (B x) 3 x H x W tensor, or one or more same-size H x W x 3 uint8 arrays / RGB PIL images
    -> B x 3 x H x W (values in [0, 255]), checked as `SamCore` checks its inputs."""
    if isinstance(images, Tensor):
        return check_image_tensor(images)
    if isinstance(images, (np.ndarray, Image.Image)):
        images = [images]
    arrays = [image_array(image, f"image {i}") for i, image in enumerate(images)]
    if not arrays:
        raise ImageFormatError("no images given")
    if len({a.shape for a in arrays}) > 1:
        raise ImageFormatError(f"images of one batch must share a size, got {sorted({a.shape for a in arrays})}")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def _chunks(count: int, size: int | None) -> Iterator[slice]:
    if not size or size >= count:
        yield slice(None)       # all at once, without a size (an ONNX trace keeps the class count dynamic)
        return
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


class ESCNet(nn.Module):
    """ESC-Net on a frozen SAM core and a (frozen) open_clip model.

    The core lends its prompt encoder (frozen, shared, through `core.prompt_encoding`, so the
    core's precision rules apply) and the weights of its mask decoder's two-way blocks (copied
    into every ESC block, trained at their own low learning rate). SAM's image encoder is not
    used, so the model does not hold it: the images are seen through CLIP. `core_info` records
    which core it was built on (saved with the weights).

    Args:
        core: the SAM core.
        clip: an open_clip model (taken over: see `DenseClip`).
        config: the architecture.
        clip_spec: how to reload the CLIP model (saved with the weights), e.g. {"name": "shapes"}.
    """

    def __init__(self, core: SamCore, clip: ClipBundle, config: ESCNetConfig = ESCNetConfig(),
                 *, clip_spec: dict[str, str] | None = None) -> None:
        super().__init__()
        require_family(core, ("sam", "sam2"), "ESC-Net")
        depth = len(clip.model.visual.transformer.resblocks)
        self.config = config
        self.clip_spec = clip_spec or {"name": clip.name}
        self.core_info = core.describe()
        self.prompt_encoding = core.prompt_encoding
        self.clip = DenseClip(clip, config.clip_image_size, config.resolved_skip_layers(depth), config.templates)
        if config.clip_finetune == "attention":
            for block in self.clip.clip.visual.transformer.resblocks:
                for parameter in block.attn.parameters():
                    parameter.requires_grad_(True)
        dim, embed, guide = core.prompt_dim, self.clip.embed_dim, config.guidance_dim
        self.image_proj = nn.Conv2d(embed, dim, 1)
        self.correlation_embed = nn.Conv2d(1, dim, 7, padding=3)
        self.image_guidance = nn.Conv2d(embed, guide, 1)
        self.text_guidance = nn.Linear(embed, guide)
        self.blocks = nn.ModuleList([
            ESCBlock(core.mask_decoder, dim, guide, config.heads, config.window, config.sam_init == "random")
            for _ in range(config.blocks)])
        self.decoder = UpsamplingDecoder(dim, self.clip.width, config.decoder_dims)
        if config.correlation_residual:
            start = float(clip.model.logit_scale.detach().exp())
            self.correlation_scale = nn.Parameter(torch.tensor(start, dtype=self.image_proj.weight.dtype))
            nn.init.zeros_(self.decoder.head.weight)
            nn.init.zeros_(self.decoder.head.bias)

    @property
    def device(self) -> torch.device:
        """Where the trained modules live (inputs are moved here)."""
        return self.image_proj.weight.device

    # ------------------------------------------------------------------ prompts
    def embed_pseudo_prompts(self, prompts: PseudoPrompts, rows: Tensor, grid: tuple[int, int]
                             ) -> tuple[Tensor, Tensor]:
        """Pseudo points + masks of the chosen rows through SAM's prompt encoder.

        Returns sparse R x (k + 1) x C tokens and dense R x C x h x w prompts on the `grid`.
        """
        side = self.prompt_encoding.encoder.input_image_size
        size = torch.tensor(side[::-1], dtype=torch.float32, device=rows.device)  # (W, H)
        points = prompts.points[rows] * size
        masks = prompts.masks[rows].unsqueeze(1).float() * 2 - 1
        masks = F.interpolate(masks, size=(4 * grid[0], 4 * grid[1]), mode="nearest") * self.config.mask_logit
        return self.prompt_encoding.embed((points, prompts.labels[rows]), None, masks,
                                          dtype=self.image_proj.weight.dtype)

    # ------------------------------------------------------------------ forward
    def forward(self, images: Tensor | np.ndarray | Sequence[np.ndarray], classes: Sequence[str],
                *, class_chunk: int | None = None) -> ESCNetOutput:
        """images: B x 3 x H x W (uint8 or float in [0, 255]) or H x W x 3 uint8 arrays;
        classes: K names (any list, any length) -> `ESCNetOutput` with B x K x H x W logits.

        `class_chunk` (default: the config's) bounds how many classes are processed at once.
        """
        classes = check_classes(classes)
        if class_chunk is not None and (isinstance(class_chunk, bool) or not isinstance(class_chunk, int)
                                        or class_chunk <= 0):
            raise ConfigError(f"class_chunk must be a positive int or None, got {class_chunk!r}")
        batch = as_image_batch(images).to(self.image_proj.weight.device)
        return self.segment(batch, self.clip.encode_classes(classes), class_chunk or self.config.class_chunk)

    def segment(self, batch: Tensor, text: Tensor, chunk: int | None = None) -> ESCNetOutput:
        """`forward` on a checked B x 3 x H x W batch in [0, 255] and K x E class embeddings
        (`clip.encode_classes`), `chunk` classes at a time (None: all at once)."""
        clip_trains = any(p.requires_grad for p in self.clip.parameters()) and torch.is_grad_enabled()
        with torch.set_grad_enabled(clip_trains):
            dense, skips = self.clip.encode_image(batch)                                 # B x E x h x w
        b, k, (h, w) = batch.shape[0], text.shape[0], dense.shape[-2:]
        corr = correlation(dense, text)                                                  # B x K x h x w
        prompts = pseudo_prompts(corr.detach(), self.config.pseudo)
        dtype = self.image_proj.weight.dtype
        dense, corr, text = dense.to(dtype), corr.to(dtype), text.to(dtype)
        x = self.image_proj(dense).unsqueeze(1) + self.correlation_embed(corr.flatten(0, 1).unsqueeze(1)).view(
            b, k, -1, h, w)                                                              # B x K x C x h x w
        image_guide = self.image_guidance(dense)                                         # B x G x h x w
        text_guide = self.text_guidance(text)                                            # K x G
        positional = self.prompt_encoding.positional_encoding((h, w), dtype=dtype)[0]    # C x h x w
        row_ids = torch.arange(b * k, device=batch.device).view(b, k)
        embedded = [self.embed_pseudo_prompts(prompts, row_ids[:, part].flatten(), (h, w))
                    for part in _chunks(k, chunk)]
        for block in self.blocks:
            parts = []
            for part, (tokens, dense_prompt) in zip(_chunks(k, chunk), embedded):
                kc = x[:, part].shape[1]
                guide = torch.cat([image_guide.unsqueeze(1).expand(-1, kc, -1, -1, -1),
                                   corr[:, part].unsqueeze(2)], dim=2).flatten(0, 1)
                y = block.per_class(x[:, part].flatten(0, 1), positional, tokens, dense_prompt.to(dtype), guide)
                parts.append(y.view(b, kc, *y.shape[1:]))
            summaries = [block.classes.summarise(y, text_guide[part]) for y, part in zip(parts, _chunks(k, chunk))]
            summary = (sum(s[0] for s in summaries), sum(s[1] for s in summaries))
            x = torch.cat([block.classes(y, text_guide[part], summary) for y, part in zip(parts, _chunks(k, chunk))],
                          dim=1)
        projected = self.decoder.project_skips(skips)
        logits = torch.cat([self.decoder(x[:, part], projected) for part in _chunks(k, chunk)], dim=1)
        logits = F.interpolate(logits, size=batch.shape[-2:], mode="bilinear", align_corners=False)
        if self.config.correlation_residual:
            logits = logits + self.correlation_scale * F.interpolate(corr, size=batch.shape[-2:], mode="bilinear",
                                                                     align_corners=False)
        return ESCNetOutput(logits, corr, prompts)

    # ------------------------------------------------------------------ state
    def train(self, mode: bool = True) -> "ESCNet":
        """Only ESC-Net's own layers switch mode; SAM's prompt encoder and CLIP stay in eval mode."""
        super().train(mode)
        self.prompt_encoding.eval()
        self.clip.train(mode)
        return self

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by role: "sam" (the copied SAM blocks, the paper's low lr),
        "clip" (CLIP attention, when fine-tuned) and "escnet" (everything else)."""
        groups: dict[str, list[nn.Parameter]] = {"sam": [], "clip": [], "escnet": []}
        for name, parameter in self.named_parameters():
            if not parameter.requires_grad:
                continue
            role = "sam" if ".sam." in name else "clip" if name.startswith("clip.") else "escnet"
            groups[role].append(parameter)
        return groups

    def module_lrs(self, sam_lr: float, clip_lr: float | None = None) -> dict[str, float]:
        """`TrainConfig.module_lrs` entries giving the SAM blocks (and CLIP, when tuned) their own rates."""
        rates = {f"blocks.{i}.sam": sam_lr for i in range(len(self.blocks))}
        if clip_lr is not None and self.parameter_groups()["clip"]:
            rates["clip.clip"] = clip_lr
        return rates
