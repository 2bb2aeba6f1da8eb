"""Caching image embeddings across epochs when the encoder cannot change."""
from __future__ import annotations

from typing import Hashable, Sequence

from samprompt.core.images import ImageLike
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures


def encoder_is_frozen(core: SamCore) -> bool:
    """True when no parameter of the image encoder (adapters included) requires a gradient."""
    return not any(p.requires_grad for p in core.sam.image_encoder.parameters())


class FeatureCache:
    """Encodes each image once, keyed by a caller-given id; later calls reuse the features.

    With a trainable encoder (LoRA or adapters on it) caching would return stale features,
    so the cache then encodes every time (`enabled` is re-checked on every call). Cached
    features live detached in memory on the core's device.
    """

    def __init__(self, core: SamCore, *, keep_intermediate: bool = True, keep_images: bool = False) -> None:
        self.core = core
        self.keep_intermediate = keep_intermediate
        self.keep_images = keep_images
        self._store: dict[Hashable, ImageFeatures] = {}
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return encoder_is_frozen(self.core)

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()

    def encode(self, images: Sequence[ImageLike], ids: Sequence[Hashable]) -> ImageFeatures:
        """Features of `images` (one per id), encoding only those not seen before."""
        if len(images) != len(ids):
            raise ValueError(f"{len(images)} images but {len(ids)} ids")
        kwargs = dict(keep_intermediate=self.keep_intermediate, keep_images=self.keep_images)
        if not self.enabled:
            self.misses += len(ids)
            return self.core.encode(list(images), **kwargs)
        first_index = {key: i for i, key in reversed(list(enumerate(ids)))}
        missing = [i for key, i in first_index.items() if key not in self._store]
        if missing:
            fresh = self.core.encode([images[i] for i in missing], **kwargs).detach()
            for row, i in enumerate(missing):
                self._store[ids[i]] = fresh.select([row])
        self.hits += len(ids) - len(missing)
        self.misses += len(missing)
        return ImageFeatures.concatenate([self._store[key] for key in ids])
