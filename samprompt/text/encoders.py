"""Frozen text encoders behind one interface: token features, padding mask, sentence feature.

- `OpenClipTextEncoder`: the text tower of any open_clip model (the shipped shapes CLIP, or
  a named architecture with a local weights file).
- `HuggingFaceTextEncoder`: `T5EncoderModel` or any `AutoModel` encoder (RoBERTa, BERT)
  from a local directory written by `save_pretrained` (RefSAM's own choice of encoders).

Encoders stay in eval mode and never train: `train()` is a no-op for them.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from samprompt.errors import CheckpointNotFoundError, ConfigError, PromptError, UnknownNameError


@dataclass
class TextFeatures:
    """The encoder's output for T texts, padded to L tokens.

    Attributes:
        tokens: T x L x D per-token features.
        padding_mask: T x L bool, True where a position is padding (not part of the text).
        sentence: T x D one feature per text.
    """

    tokens: Tensor
    padding_mask: Tensor
    sentence: Tensor

    def __post_init__(self) -> None:
        texts, length, width = self.tokens.shape
        if self.padding_mask.shape != (texts, length) or self.sentence.shape != (texts, width):
            raise ConfigError(f"inconsistent text features: tokens {tuple(self.tokens.shape)}, padding "
                             f"{tuple(self.padding_mask.shape)}, sentence {tuple(self.sentence.shape)}")

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def select(self, index: Sequence[int] | Tensor) -> "TextFeatures":
        idx = torch.as_tensor(index, dtype=torch.long, device=self.tokens.device)
        return TextFeatures(self.tokens.index_select(0, idx), self.padding_mask.index_select(0, idx),
                            self.sentence.index_select(0, idx))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "TextFeatures":
        return TextFeatures(self.tokens.to(device=device, dtype=dtype), self.padding_mask.to(device=device),
                            self.sentence.to(device=device, dtype=dtype))


def check_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list; raises `PromptError` for a non-string or empty text."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)):
        raise PromptError(f"text must be a string or a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise PromptError("no text given: pass one or more referring expressions")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise PromptError(f"text {i} is a {type(text).__name__}, expected a string")
        if not text.strip():
            raise PromptError(f"text {i} is empty: a referring expression needs at least one word")
    return texts


class TextTruncatedWarning(UserWarning):
    """A text longer than the encoder's context was cut to it."""


class TextEncoder(nn.Module):
    """Base class: `forward(texts) -> TextFeatures`; `dim` is the feature width D."""

    dim: int
    _warned_truncation = False

    def warn_truncated(self, texts: Sequence[str], lengths: Sequence[int], limit: int) -> None:
        """Warn once per encoder that texts of more than `limit` tokens were cut to `limit`."""
        cut = [i for i, n in enumerate(lengths) if n > limit]
        if cut and not self._warned_truncation:
            self._warned_truncation = True
            warnings.warn(f"text {cut[0]} ({lengths[cut[0]]} tokens: {texts[cut[0]][:60]!r}...) is longer than the "
                          f"{limit} tokens {getattr(self, 'name', 'the text encoder')!r} reads and was cut to them "
                          "(said once per encoder)", TextTruncatedWarning, stacklevel=3)

    def train(self, mode: bool = True) -> "TextEncoder":
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _freeze(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.eval()

    def forward(self, texts: Sequence[str]) -> TextFeatures:
        raise NotImplementedError


class OpenClipTextEncoder(TextEncoder):
    """The text tower of an open_clip `CLIP` model.

    Token features are the final-norm outputs of the text transformer projected by the
    model's text projection, so tokens and the sentence feature (open_clip's own
    `encode_text`, unnormalised) share the width `embed_dim`. Positions after the end-of-text
    token are padding.
    """

    def __init__(self, clip_model: nn.Module, tokenizer: Any, name: str = "open_clip") -> None:
        super().__init__()
        if not hasattr(clip_model, "forward_intermediates") or not hasattr(clip_model, "text_projection"):
            raise ConfigError(f"clip_model must be an open_clip CLIP model with a text tower, got "
                              f"{type(clip_model).__name__}")
        self.clip = clip_model
        self.tokenizer = tokenizer
        self.name = name
        self.dim = int(self.clip.text_projection.shape[1])
        self._freeze()

    @classmethod
    def load(cls, name: str = "shapes", pretrained: str | Path | None = None) -> "OpenClipTextEncoder":
        """From local files (see `samprompt.clip.load_clip`): the shipped "shapes" CLIP by default."""
        from samprompt.clip.models import load_clip

        bundle = load_clip(name, pretrained)
        return cls(bundle.model, bundle.tokenizer, bundle.name)

    @torch.no_grad()
    def forward(self, texts: Sequence[str]) -> TextFeatures:
        texts = check_texts(texts)
        ids = self.tokenizer(texts).to(self.device)
        encode = getattr(self.tokenizer, "encode", None)
        if encode is not None and bool((ids[:, -1] != 0).any()):   # a text fills the context: was it cut?
            self.warn_truncated(texts, [len(encode(t)) + 2 for t in texts], ids.shape[1])
        output = self.clip.forward_intermediates(text=ids, text_indices=1, normalize_intermediates=True,
                                                 normalize=False)
        tokens = output["text_intermediates"][-1] @ self.clip.text_projection
        end = ids.argmax(dim=-1, keepdim=True)  # the end-of-text token has the largest id
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        return TextFeatures(tokens, positions > end, output["text_features"])


class HuggingFaceTextEncoder(TextEncoder):
    """A Hugging Face encoder from a local directory (`T5EncoderModel` for T5, else `AutoModel`).

    Token features are the last hidden states; the sentence feature is their mean over the
    non-padding tokens (T5 has no pooled output, and RoBERTa's pooler is untrained).
    """

    def __init__(self, directory: str | Path, *, max_length: int = 32) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel

        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise CheckpointNotFoundError(f"{str(directory)!r} is not a Hugging Face model directory "
                                          "(no config.json); samprompt loads text encoders from local files only")
        config = AutoConfig.from_pretrained(directory, local_files_only=True)
        model_class = T5EncoderModel if config.model_type in ("t5", "mt5", "umt5") else AutoModel
        self.model = model_class.from_pretrained(directory, local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        self.name = directory.name
        self.max_length = max_length
        self.dim = int(getattr(config, "d_model", None) or config.hidden_size)
        self._freeze()

    @torch.no_grad()
    def forward(self, texts: Sequence[str]) -> TextFeatures:
        texts = check_texts(texts)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        if batch["input_ids"].shape[1] == self.max_length:
            self.warn_truncated(texts, [len(ids) for ids in self.tokenizer(texts)["input_ids"]], self.max_length)
        tokens = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        keep = batch["attention_mask"].bool()
        weights = keep.unsqueeze(-1).to(tokens.dtype)
        sentence = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1)
        return TextFeatures(tokens, ~keep, sentence)


def _looks_like_path(spec: str) -> bool:
    """Whether a text-encoder spec of no known kind was meant as a folder (a missing folder is then
    reported as such, not as an unknown kind)."""
    return "/" in spec or "\\" in spec or spec.startswith((".", "~"))


def load_text_encoder(spec: str = "shapes", pretrained: str | Path | None = None) -> TextEncoder:
    """A text encoder from a short spec.

    Args:
        spec: "shapes" (the shipped CLIP), "open_clip:<model name>" (with `pretrained`, a
            local weights file), or "hf:<directory>" / a directory with a `config.json`
            (a Hugging Face T5 / RoBERTa / BERT encoder).
    """
    if spec == "shapes":
        return OpenClipTextEncoder.load("shapes", pretrained)
    if spec.startswith("open_clip:"):
        return OpenClipTextEncoder.load(spec.split(":", 1)[1], pretrained)
    directory = Path(spec.split(":", 1)[1] if spec.startswith("hf:") else spec)
    if directory.is_dir():
        return HuggingFaceTextEncoder(directory)
    if spec.startswith("hf:") or _looks_like_path(spec):
        raise CheckpointNotFoundError(f"text encoder directory {str(directory)!r} (from spec {spec!r}) does not "
                                      "exist; give the folder of a saved Hugging Face encoder")
    raise UnknownNameError(f"unknown text encoder {spec!r}: use 'shapes', 'open_clip:<name>' with a local weights "
                           "file, 'hf:<directory>' or the folder of a saved Hugging Face encoder")

