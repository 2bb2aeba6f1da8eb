"""FeatureCache: byte budget (LRU eviction), offload, repeated and mixed ids, argument checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.core.structures import ImageFeatures
from samprompt.errors import ConfigError
from samprompt.training.feature_cache import FeatureCache, feature_bytes


def make_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """Random uint8 images of different sizes (so input and original sizes tell them apart)."""
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 256, (40 + 3 * i, 50 - 2 * i, 3), dtype=np.uint8) for i in range(count)]


def entry_bytes(core, keep_intermediate: bool = True, keep_images: bool = False) -> int:
    return feature_bytes(core.encode(make_images(1), keep_intermediate=keep_intermediate, keep_images=keep_images))


def assert_features_close(got: ImageFeatures, want: ImageFeatures, exact: bool = False) -> None:
    assert got.input_sizes == want.input_sizes
    assert got.original_sizes == want.original_sizes
    assert got.intermediate_blocks == want.intermediate_blocks
    pairs = [(got.embeddings, want.embeddings), *zip(got.intermediate, want.intermediate)]
    assert (got.images is None) == (want.images is None)
    if got.images is not None:
        pairs.append((got.images, want.images))
    for a, b in pairs:
        assert a.shape == b.shape and a.device == b.device and a.dtype == b.dtype
        if exact:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def assert_rows_match(core, result: ImageFeatures, images: list[np.ndarray], keep_images: bool = False) -> None:
    """Row k of `result` equals the features of images[k] encoded alone."""
    assert len(result) == len(images)
    for row, image in enumerate(images):
        alone = core.encode([image], keep_intermediate=True, keep_images=keep_images)
        assert_features_close(result.select([row]), alone)


def stored_bytes(cache: FeatureCache) -> int:
    return sum(feature_bytes(features) for features, _ in cache._store.values())


# --------------------------------------------------------------------------- feature_bytes
def test_feature_bytes_counts_every_tensor(core):
    features = core.encode(make_images(2), keep_intermediate=True, keep_images=True)
    assert features.intermediate and features.images is not None
    tensors = [features.embeddings, *features.intermediate, features.images]
    assert feature_bytes(features) == sum(t.numel() * t.element_size() for t in tensors)
    bare = core.encode(make_images(2), keep_intermediate=False)
    assert feature_bytes(bare) == bare.embeddings.numel() * bare.embeddings.element_size()
    assert feature_bytes(features.to(torch.float16)) == feature_bytes(features) // 2


def test_feature_bytes_of_handmade_features():
    features = ImageFeatures(embeddings=torch.zeros(1, 4, 2, 2), input_sizes=((8, 8),), original_sizes=((8, 8),),
                             intermediate=(torch.zeros(1, 6, 2, 2, dtype=torch.float16),), intermediate_blocks=(0,),
                             images=torch.zeros(1, 3, 8, 8, dtype=torch.float64))
    assert feature_bytes(features) == 16 * 4 + 24 * 2 + 192 * 8


# --------------------------------------------------------------------------- unbounded (default)
def test_unbounded_cache_counts_hits_misses_and_bytes(core):
    images = make_images(3)
    cache = FeatureCache(core)
    first = cache.encode(images, ["a", "b", "c"])
    assert (cache.hits, cache.misses, cache.evictions, len(cache)) == (0, 3, 0, 3)
    assert cache.nbytes == stored_bytes(cache) == 3 * entry_bytes(core)
    again = cache.encode(images[::-1], ["c", "b", "a"])
    assert (cache.hits, cache.misses, len(cache)) == (3, 3, 3)
    assert_features_close(again, first.select([2, 1, 0]), exact=True)
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_trainable_encoder_is_never_cached(core):
    cache = FeatureCache(core, max_bytes=10 * entry_bytes(core))
    next(core.sam.image_encoder.parameters()).requires_grad_(True)
    assert not cache.enabled
    result = cache.encode(make_images(2), ["a", "b"])
    assert len(result) == 2 and len(cache) == 0 and cache.nbytes == 0 and cache.misses == 2


# --------------------------------------------------------------------------- budget
def test_least_recently_used_entry_is_evicted(core):
    images = make_images(4)
    size = entry_bytes(core)
    cache = FeatureCache(core, max_bytes=2 * size)
    cache.encode([images[0]], ["a"])
    cache.encode([images[1]], ["b"])
    cache.encode([images[0]], ["a"])  # a is now more recent than b
    assert cache.hits == 1
    cache.encode([images[2]], ["c"])
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.evictions == 1 and cache.nbytes == 2 * size
    cache.encode([images[3]], ["d"])  # a was used before c: a goes
    assert "a" not in cache and "c" in cache and "d" in cache
    assert cache.evictions == 2 and len(cache) == 2


def test_budget_is_never_exceeded(core):
    images = make_images(6)
    size = entry_bytes(core)
    budget = 5 * size // 2  # room for two entries, not three
    cache = FeatureCache(core, max_bytes=budget)
    rng = np.random.RandomState(1)
    asked = 0
    for _ in range(12):
        picks = list(rng.randint(0, len(images), rng.randint(1, 5)))
        asked += len(picks)
        result = cache.encode([images[k] for k in picks], [f"img{k}" for k in picks])
        assert len(result) == len(picks)
        assert cache.nbytes <= budget
        assert cache.nbytes == stored_bytes(cache) == len(cache) * size
        assert len(cache) <= 2
    assert cache.evictions > 0 and cache.hits > 0
    assert cache.hits + cache.misses == asked


def test_entry_over_the_budget_is_returned_not_stored(core):
    image = make_images(1)
    cache = FeatureCache(core, max_bytes=entry_bytes(core) - 1)
    result = cache.encode(image, ["big"])
    assert_rows_match(core, result, image)
    assert len(cache) == 0 and cache.nbytes == 0 and cache.evictions == 0
    cache.encode(image, ["big"])
    assert (cache.hits, cache.misses) == (0, 2)


def test_zero_budget_stores_nothing(core):
    images = make_images(2)
    cache = FeatureCache(core, max_bytes=0)
    result = cache.encode(images, ["a", "b"])
    assert_rows_match(core, result, images)
    assert len(cache) == 0 and cache.nbytes == 0


def test_keep_images_entries_are_counted(core):
    images = make_images(3)
    size = entry_bytes(core, keep_images=True)
    assert size > entry_bytes(core)
    cache = FeatureCache(core, keep_images=True, max_bytes=2 * size)
    result = cache.encode(images, ["a", "b", "c"])
    assert_rows_match(core, result, images, keep_images=True)
    assert cache.nbytes == 2 * size and cache.evictions == 1 and "a" not in cache


# --------------------------------------------------------------------------- repeated and mixed ids
@pytest.mark.parametrize("entries", [None, 0, 1, 2])
def test_repeated_and_mixed_ids_come_back_in_order(core, entries):
    images = make_images(4)
    size = entry_bytes(core)
    budget = None if entries is None else entries * size
    cache = FeatureCache(core, max_bytes=budget)
    cache.encode([images[0], images[1]], ["a", "b"])
    # a and b may be stored (old), c and d are new; the budget may evict what this very call needs.
    order = [2, 0, 2, 3, 1, 0, 3]
    result = cache.encode([images[k] for k in order], ["abcd"[k] for k in order])
    assert_rows_match(core, result, [images[k] for k in order])
    assert cache.nbytes <= (budget if budget is not None else cache.nbytes)
    assert cache.nbytes == stored_bytes(cache)
    if entries is None:
        assert len(cache) == 4 and cache.misses == 4 and cache.hits == 5


def test_result_after_eviction_in_the_same_call_comes_from_fresh_features(core):
    images = make_images(3)
    cache = FeatureCache(core, max_bytes=entry_bytes(core))
    cache.encode([images[0]], ["a"])
    result = cache.encode([images[0], images[1], images[2], images[0], images[1]], ["a", "b", "c", "a", "b"])
    assert_rows_match(core, result, [images[0], images[1], images[2], images[0], images[1]])
    assert list(cache._store) == ["c"] and cache.evictions == 2
    assert (cache.hits, cache.misses) == (3, 3)


# --------------------------------------------------------------------------- offload
def test_offload_to_cpu_keeps_values(core):
    images = make_images(3)
    plain = FeatureCache(core, keep_images=True)
    offloaded = FeatureCache(core, keep_images=True, offload="cpu", max_bytes=10 * entry_bytes(core, keep_images=True))
    assert offloaded.offload == torch.device("cpu")
    want = plain.encode(images, ["a", "b", "c"])
    first = offloaded.encode(images, ["a", "b", "c"])
    assert_features_close(first, want)
    for features, _ in offloaded._store.values():
        assert features.embeddings.device.type == "cpu" and not features.embeddings.requires_grad
    again = offloaded.encode(images[::-1] + images[:1], ["c", "b", "a", "a"])
    assert offloaded.hits == 4
    assert_features_close(again, first.select([2, 1, 0, 0]), exact=True)
    assert again.embeddings.device == core.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_offload_from_cuda_to_cpu_is_exact_and_returns_on_the_core_device(core):
    core = core.cuda()
    images = make_images(3)
    cache = FeatureCache(core, keep_images=True, offload="cpu")
    first = cache.encode(images, ["a", "b", "c"])
    assert first.embeddings.device.type == "cuda"
    for features, _ in cache._store.values():
        tensors = [features.embeddings, *features.intermediate, features.images]
        assert all(t.device.type == "cpu" for t in tensors)
    again = cache.encode(images[::-1], ["c", "b", "a"])
    assert cache.hits == 3
    assert_features_close(again, first.select([2, 1, 0]), exact=True)


# --------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("value", [-1, 1.5, True, "100"])
def test_invalid_max_bytes_raises_config_error(core, value):
    with pytest.raises(ConfigError, match="max_bytes") as info:
        FeatureCache(core, max_bytes=value)
    assert repr(value) in str(info.value) and "non-negative int" in str(info.value)


@pytest.mark.parametrize("value", ["nonsense", 3.5])
def test_invalid_offload_raises_config_error(core, value):
    with pytest.raises(ConfigError, match="offload") as info:
        FeatureCache(core, offload=value)
    assert repr(value) in str(info.value)


def test_a_copy_of_the_same_core_shares_the_entries_and_another_core_is_refused(core):
    import samprompt
    from samprompt.tuning import LoraSettings, add_lora, use_lora

    images = make_images(2)
    cache = FeatureCache(core)
    first = cache.encode(images, ["a", "b"])
    torch.manual_seed(0)
    twin = samprompt.build_sam("micro")                  # the conftest core's weights, a separate module
    for parameter in twin.mask_decoder.parameters():     # its decoder trains apart: no matter
        parameter.data.add_(1.0)
    shared = cache.for_core(twin)
    assert shared.core is twin and len(shared) == 2
    assert_features_close(shared.encode(images[::-1], ["b", "a"]), first.select([1, 0]), exact=True)
    assert (shared.hits, shared.misses) == (2, 0) and (cache.hits, cache.misses) == (0, 2)
    shared.encode(make_images(3, seed=1)[2:], ["c"])     # filled through one, read through the other
    assert "c" in cache and cache.nbytes == shared.nbytes == 3 * entry_bytes(core)
    torch.manual_seed(1)
    with pytest.raises(ConfigError, match="image encoder differs"):
        cache.for_core(samprompt.build_sam("micro"))      # other weights
    add_lora(twin, LoraSettings(targets=("encoder.qkv",), rank=2))
    with pytest.raises(ConfigError, match="image encoder differs"):
        cache.for_core(twin)                              # an encoder adapter
    use_lora(twin, None)
    with pytest.raises(ConfigError, match="image encoder differs"):
        cache.for_core(twin)                              # its tensors still differ (the adapter's own)
