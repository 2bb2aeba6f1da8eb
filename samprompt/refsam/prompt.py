"""`RefSAMPrompt`: referring expressions -> SAM sparse + dense prompts (and a track slot)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from samprompt.core.structures import Prompts, resolve_batch_index
from samprompt.errors import ConfigError, PromptError
from samprompt.prompts.base import PromptGenerator
from samprompt.refsam.config import RefSAMConfig
from samprompt.refsam.layers import CrossModalMLP, HierarchicalDenseAttention, ImplicitTrackingModule
from samprompt.text.encoders import TextEncoder, TextFeatures, check_texts

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures

TextInput = Union[str, Sequence[str], Sequence[Sequence[str]], TextFeatures]


def flatten_expressions(text: str | Sequence[str] | Sequence[Sequence[str]]) -> tuple[list[str], list[int] | None]:
    """Expressions as one flat list, with their image indexes when given per image.

    A string or a list of strings gives no indexes (one per image, or all on one image);
    a list of lists gives the expressions of each image.
    """
    if isinstance(text, str):
        return check_texts([text]), None
    text = list(text)
    if text and all(isinstance(t, (list, tuple)) for t in text):
        flat, index = [], []
        for image, expressions in enumerate(text):
            flat += check_texts(expressions)
            index += [image] * len(expressions)
        return flat, index
    return check_texts(text), None


def hda_block_indexes(config: RefSAMConfig, levels: Sequence[int]) -> tuple[int, ...]:
    """The feature levels HDA reads (SAM: global-attention block indexes; SAM 2: Hiera stages),
    checked against the levels the core keeps."""
    if config.hda_blocks == "all_but_last":
        if len(levels) < 2:
            raise ConfigError(f"HDA over 'all_but_last' needs two or more feature levels, the core has {list(levels)}")
        return tuple(levels[:-1])
    unknown = [b for b in config.hda_blocks if b not in levels]
    if unknown:
        raise ConfigError(f"hda_blocks {unknown} are not feature levels of this core (global-attention blocks for "
                          f"SAM, Hiera stages for SAM 2): {list(levels)}")
    return tuple(config.hda_blocks)


class RefSAMPrompt(PromptGenerator):
    """Text -> Prompts, RefSAM's way, on any core.

    Sparse tokens (per expression): the Cross-Modal MLP applied to the sentence feature and
    to every word token (padding tokens masked out), then, with tracking, one track token
    (masked out while there is none, e.g. on a video's first frame). Dense prompt: the
    MLP'd sentence feature broadcast over the grid plus (Hierarchical) Dense Attention of
    the image features over the sparse tokens.

    Args:
        text_encoder: a frozen `TextEncoder` (its width d is the MLP's input).
        prompt_dim: the core's prompt width C.
        level_widths: index -> width of the encoder's feature levels HDA may read
            (`core.intermediate_widths()`: SAM's global-attention blocks, SAM 2's Hiera stages;
            a level on another grid than the embedding's is resampled to it).
    """

    prompt_inputs = ("text",)
    core_families = ("sam", "sam2")

    def __init__(self, text_encoder: TextEncoder, prompt_dim: int, level_widths: Mapping[int, int],
                 config: RefSAMConfig = RefSAMConfig()) -> None:
        super().__init__()
        self.config = config
        self.text_encoder = text_encoder
        self.mlp = CrossModalMLP(text_encoder.dim, prompt_dim, config.mlp_hidden_layers, config.mlp_hidden_dim)
        self.hda_blocks: tuple[int, ...] = ()
        self.dense_attention: HierarchicalDenseAttention | None = None
        if config.dense == "hda":
            self.hda_blocks = hda_block_indexes(config, sorted(level_widths))
            self.dense_attention = HierarchicalDenseAttention([level_widths[b] for b in self.hda_blocks], prompt_dim)
        elif config.dense == "da":
            self.dense_attention = HierarchicalDenseAttention([prompt_dim], prompt_dim)
        self.tracker = (ImplicitTrackingModule(prompt_dim, config.track_heads, config.track_ffn_ratio)
                        if config.tracking else None)

    @classmethod
    def for_core(cls, core: "SamCore", text_encoder: TextEncoder, config: RefSAMConfig = RefSAMConfig()
                 ) -> "RefSAMPrompt":
        module = cls(text_encoder, core.prompt_dim, core.intermediate_widths(), config)
        return module.to(core.device)

    @property
    def dtype(self) -> torch.dtype:
        return self.mlp.layers[0].weight.dtype

    def encode_text(self, text: str | Sequence[str]) -> TextFeatures:
        """The frozen encoder's features of the expressions, in this module's dtype."""
        return self.text_encoder(check_texts(text)).to(self.mlp.layers[0].weight.device, self.dtype)

    def forward(self, core: "SamCore", features: "ImageFeatures", *, text: TextInput,
                batch_index: Sequence[int] | Tensor | None = None, track: Tensor | None = None) -> Prompts:
        """Prompts for P expressions.

        Args:
            text: a string, P strings (one per image, or all for a single image), a list with
                the list of expressions of each image, or precomputed `TextFeatures`.
            batch_index: P image indexes for a flat list of expressions on several images.
            track: P x 1 x C track tokens from `next_track` (None: no track yet).
        Returns:
            Prompts: sparse P x (2 + L [+ 1]) x C with padding mask, dense P x C x h x w.
        """
        if isinstance(text, TextFeatures):
            text_features = text.to(self.mlp.layers[0].weight.device, self.dtype)
        else:
            expressions, per_image_index = flatten_expressions(text)
            if per_image_index is not None:
                if batch_index is not None:
                    raise PromptError("give expressions per image or a batch_index, not both")
                batch_index = per_image_index
            text_features = self.encode_text(expressions)
        rows = len(text_features)
        index = resolve_batch_index(batch_index, rows, len(features), features.embeddings.device)

        sentence = self.mlp(text_features.sentence).unsqueeze(1)             # P x 1 x C
        words = self.mlp(text_features.tokens)                               # P x L x C
        sparse = torch.cat([sentence, words], dim=1)
        padding = torch.cat([torch.zeros_like(text_features.padding_mask[:, :1]), text_features.padding_mask], 1)
        h, w = features.embeddings.shape[-2:]
        dense = sentence.transpose(1, 2).unsqueeze(-1).expand(-1, -1, h, w)
        if self.dense_attention is not None:
            dense = dense + self.dense_attention(self._levels(features, index), sparse, padding)
        prompts = Prompts(sparse, dense, padding, index)
        if self.tracker is None:
            if track is not None:
                raise PromptError("this RefSAM was built without tracking (RefSAMConfig.tracking=False)")
            return prompts
        if track is None:
            slot = sparse.new_zeros(rows, 1, sparse.shape[2])
            return prompts.append_tokens(slot, torch.ones(rows, 1, dtype=torch.bool, device=sparse.device))
        if track.shape != (rows, 1, sparse.shape[2]):
            raise PromptError(f"track tokens must be {rows} x 1 x {sparse.shape[2]}, got {tuple(track.shape)}")
        return prompts.append_tokens(track)

    def _levels(self, features: "ImageFeatures", index: Tensor) -> list[Tensor]:
        if self.config.dense == "da":
            return [features.embeddings.index_select(0, index)]
        available = dict(zip(features.intermediate_blocks, features.intermediate))
        missing = [b for b in self.hda_blocks if b not in available]
        if missing:
            raise PromptError(f"HDA needs the outputs of encoder blocks {missing}: encode with "
                              "keep_intermediate=True")
        grid = tuple(features.embeddings.shape[-2:])
        levels = []
        for b in self.hda_blocks:
            level = available[b].index_select(0, index).to(self.dtype)
            if tuple(level.shape[-2:]) != grid:   # SAM 2's finer / coarser Hiera stages
                finer = level.shape[-1] > grid[1]
                level = F.interpolate(level, size=grid, mode="area" if finer else "bilinear",
                                      **({} if finer else {"align_corners": False}))
            levels.append(level)
        return levels

    def next_track(self, mask_tokens: Tensor, previous: Tensor | None = None) -> Tensor:
        """P x M x C mask-token outputs of frame t (+ P x 1 x C previous track) -> P x 1 x C."""
        if self.tracker is None:
            raise PromptError("this RefSAM was built without tracking (RefSAMConfig.tracking=False)")
        return self.tracker(mask_tokens, previous)
