"""Caching image embeddings across epochs when the encoder cannot change.

A cached entry is the `ImageFeatures` of one image: 1 x C x h x w embeddings, with
`keep_intermediate` one 1 x D x h x w map per global-attention block of the encoder, and
with `keep_images` the 1 x 3 x S x S padded encoder input. For vit_b (C = 256, D = 768,
h = w = 64, four global blocks, S = 1024) in float32 that is 4 MiB of embeddings plus
48 MiB of intermediate maps: 52 MiB (54.5 MB) per frame, and 12 MiB more with the
encoder input. Without intermediates a frame costs 4 MiB. An unbounded cache of a video
dataset with RefSAM's intermediates (10,000 frames: about 510 GiB) outgrows any GPU and
most hosts: give the cache a byte budget (`max_bytes`, least-recently-used entries are evicted) and, to keep the
accelerator's memory for training, store the entries elsewhere (`offload="cpu"`).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import torch

from samprompt.core.images import ImageLike
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures
from samprompt.errors import ConfigError


def encoder_is_frozen(core: SamCore) -> bool:
    """True when no parameter of the image encoder (adapters included) requires a gradient."""
    return not any(p.requires_grad for p in core.sam.image_encoder.parameters())


def feature_bytes(features: ImageFeatures) -> int:
    """Bytes held by the tensors of `features`: embeddings, intermediate and (SAM 2) high-resolution
    maps, and images (if kept)."""
    tensors = [features.embeddings, *features.intermediate, *features.high_res]
    if features.images is not None:
        tensors.append(features.images)
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class _Entries:
    """The stored features by id (oldest use first) and their bytes: shared by the caches of cores
    that compute the same features (`FeatureCache.for_core`)."""

    store: OrderedDict[Hashable, tuple[ImageFeatures, int]] = field(default_factory=OrderedDict)
    nbytes: int = 0


class FeatureCache:
    """Encodes each image once, keyed by a caller-given id; later calls reuse the features.

    With a trainable encoder (LoRA or adapters on it) caching would return stale features,
    so the cache then encodes every time (`enabled` is re-checked on every call).

    Args:
        core: the SAM core whose encoder produces the features.
        keep_intermediate: cache the global-attention block outputs (RefSAM needs them).
        keep_images: cache the padded encoder input (SAM-REF needs it).
        max_bytes: a budget for the stored entries, counted with `feature_bytes` (see the
            module docstring for what a frame costs). When storing a new entry would exceed
            it, the least recently used entries (stored or returned longest ago) are evicted;
            an entry larger than the whole budget is returned but not stored. None: unbounded.
        offload: where the stored entries live (detached), e.g. "cpu" to keep them out of the
            accelerator's memory; they are moved back to the core's device when returned.
            None: on the core's device.

    Attributes:
        hits / misses: ids answered from the store / encoded (an id repeated within one call
            and encoded for its first occurrence counts as a hit for the others).
        evictions: entries dropped to stay within `max_bytes`.
    """

    def __init__(self, core: SamCore, *, keep_intermediate: bool = True, keep_images: bool = False,
                 max_bytes: int | None = None, offload: str | torch.device | None = None) -> None:
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0):
            raise ConfigError(f"FeatureCache max_bytes={max_bytes!r}: expected None or a non-negative int (bytes)")
        if offload is not None:
            try:
                offload = torch.device(offload)
            except (RuntimeError, TypeError, ValueError) as error:
                raise ConfigError(f"FeatureCache offload={offload!r}: expected None, a device name such as 'cpu' "
                                  f"or a torch.device ({error})") from None
        self.core = core
        self.keep_intermediate = keep_intermediate
        self.keep_images = keep_images
        self.max_bytes = max_bytes
        self.offload: torch.device | None = offload
        self._entries = _Entries()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def _store(self) -> OrderedDict[Hashable, tuple[ImageFeatures, int]]:
        return self._entries.store

    def for_core(self, core: SamCore) -> "FeatureCache":
        """A cache for another core that shares this one's entries (both read and fill them), for a
        core whose image encoder computes the same features: the same tensors (checked one by one,
        now) and the same active LoRA adapter, e.g. a second copy of the same checkpoint whose
        decoder trains apart. Raises ConfigError otherwise. Hits and misses are counted per cache."""
        from samprompt.tuning.lora import active_lora

        mine, theirs = self.core.sam.image_encoder.state_dict(), core.sam.image_encoder.state_dict()
        same = mine.keys() == theirs.keys() and active_lora(self.core) == active_lora(core) and all(
            mine[k].shape == theirs[k].shape and torch.equal(mine[k], theirs[k].to(mine[k].device)) for k in mine)
        if not same:
            raise ConfigError("FeatureCache.for_core: that core's image encoder differs from this cache's (its "
                              "tensors or its active LoRA adapter); its features cannot be shared")
        other = FeatureCache(core, keep_intermediate=self.keep_intermediate, keep_images=self.keep_images,
                             max_bytes=self.max_bytes, offload=self.offload)
        other._entries = self._entries
        return other

    @property
    def enabled(self) -> bool:
        return encoder_is_frozen(self.core)

    @property
    def nbytes(self) -> int:
        """Bytes of the entries stored now (never above `max_bytes`)."""
        return self._entries.nbytes

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: Hashable) -> bool:
        """Whether `key` is stored (does not count as a use)."""
        return key in self._store

    def clear(self) -> None:
        self._store.clear()
        self._entries.nbytes = 0

    def _put(self, key: Hashable, features: ImageFeatures) -> None:
        """Store one entry (on the offload device), evicting least recently used ones to fit the budget."""
        if self.offload is not None:
            features = features.to(self.offload)
        size = feature_bytes(features)
        if self.max_bytes is not None:
            if size > self.max_bytes:
                return
            while self._entries.nbytes + size > self.max_bytes:
                _, (_, evicted) = self._store.popitem(last=False)
                self._entries.nbytes -= evicted
                self.evictions += 1
        self._store[key] = (features, size)
        self._entries.nbytes += size

    def encode(self, images: Sequence[ImageLike], ids: Sequence[Hashable]) -> ImageFeatures:
        """Features of `images` (one per id, in the order of `ids`), encoding only those not stored.

        Ids may repeat (the image is encoded once); the result is on the core's device.
        """
        if len(images) != len(ids):
            raise ConfigError(f"images and ids must pair up, got {len(images)} images and {len(ids)} ids")
        kwargs = {"keep_intermediate": self.keep_intermediate, "keep_images": self.keep_images}
        if not self.enabled:
            self.misses += len(ids)
            return self.core.encode(list(images), **kwargs)
        device = self.core.device
        first_index: dict[Hashable, int] = {}  # in the order of first appearance
        for i, key in enumerate(ids):
            first_index.setdefault(key, i)
        # Every entry this call needs is taken out before anything is stored, so that evictions
        # made room for the new entries cannot lose them.
        found: dict[Hashable, ImageFeatures] = {}
        missing: list[int] = []
        for key, i in first_index.items():
            if key in self._store:
                self._store.move_to_end(key)
                found[key] = self._store[key][0].to(device)
            else:
                missing.append(i)
        if missing:
            fresh = self.core.encode([images[i] for i in missing], **kwargs).detach()
            for row, i in enumerate(missing):
                found[ids[i]] = fresh.select([row])
                self._put(ids[i], found[ids[i]])
        self.hits += len(ids) - len(missing)
        self.misses += len(missing)
        return ImageFeatures.concatenate([found[key] for key in ids])
