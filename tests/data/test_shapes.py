import numpy as np
import pytest

from samprompt.data import (
    SHAPE_CLASSES,
    ShapesConfig,
    ShapesInteractive,
    ShapesReferring,
    ShapesSemantic,
    ShapesVideo,
    ShapesWorld,
    split_seed,
)
from samprompt.errors import ConfigError, UnknownNameError


def test_same_seed_same_pixels_and_masks():
    a, b = ShapesWorld().scene(42), ShapesWorld().scene(42)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.masks, b.masks)
    assert a.expressions == b.expressions
    assert not np.array_equal(a.image, ShapesWorld().scene(43).image)


def test_scene_masks_are_visible_parts_and_agree_with_the_class_map():
    world = ShapesWorld()
    for seed in range(20):
        scene = world.scene(seed)
        assert scene.image.shape == (128, 128, 3) and scene.image.dtype == np.uint8
        # visible masks never overlap (occlusion is resolved)
        assert scene.masks.sum(0).max() <= 1
        for k, obj in enumerate(scene.objects):
            assert np.all(scene.class_map[scene.masks[k]] == 1 + world.config.classes.index(obj.shape))
        assert np.all(scene.class_map[~scene.masks.any(0)] == 0)


def test_expressions_identify_exactly_one_object():
    world = ShapesWorld()
    checked = 0
    for seed in range(40):
        scene = world.scene(seed)
        for k, text in scene.expressions.items():
            obj = scene.objects[k]
            assert obj.shape in text
            words = text.split()
            colours_named = [c for c in world.config.colours if c in words]
            if len(words) in (3, 4) and colours_named and "shape" not in words:  # "the [size] colour shape"
                twins = [o for o in scene.objects if o.shape == obj.shape and o.colour == colours_named[0]]
                assert len(twins) == 1
            if text == f"the {obj.shape}":
                assert sum(o.shape == obj.shape for o in scene.objects) == 1
            if text.endswith("on the left") and "shape" not in words:
                same = [o.centre[0] for o in scene.objects if o.shape == obj.shape]
                assert obj.centre[0] == min(same)
            checked += 1
    assert checked > 60


def test_clips_move_objects_and_keep_identities():
    clip = ShapesWorld().clip(5, frames=5)
    assert len(clip) == 5
    assert [o.shape for o in clip[0].objects] == [o.shape for o in clip[-1].objects]
    assert clip[0].objects[0].centre != clip[-1].objects[0].centre
    assert not np.array_equal(clip[0].masks, clip[-1].masks)


def test_datasets_have_the_shared_item_layouts():
    ref = ShapesReferring("val", size=5)[3]
    assert ref["image"].shape == (128, 128, 3) and ref["mask"].dtype == bool and ref["mask"].any()
    assert ref["text"].startswith("the ") and ref["class"] in ref["text"]
    assert ref["label"][ref["mask"]].tolist() == [1 + SHAPE_CLASSES.index(ref["class"])] * int(ref["mask"].sum())
    sem = ShapesSemantic("val", size=5)
    item = sem[0]
    assert item["label"].shape == (128, 128) and item["label"].max() < len(sem.classes)
    assert sem.classes[0] == "background"
    inter = ShapesInteractive("test", size=5)[1]
    assert inter["mask"].any()
    video = ShapesVideo("train", size=3, frames=3)[0]
    assert video["frames"].shape == (3, 128, 128, 3) and video["masks"].shape == (3, 128, 128)


def test_splits_never_share_seeds_and_items_are_deterministic():
    seeds = {split: {split_seed(split, i) for i in range(1000)} for split in ("train", "val", "test")}
    assert not (seeds["train"] & seeds["val"]) and not (seeds["val"] & seeds["test"])
    a, b = ShapesReferring("train", size=10), ShapesReferring("train", size=10)
    assert a[7]["text"] == b[7]["text"] and np.array_equal(a[7]["mask"], b[7]["mask"])
    assert not np.array_equal(ShapesReferring("val", size=10)[7]["image"], a[7]["image"])
    with pytest.raises(IndexError):
        a[10]
    with pytest.raises(ValueError, match="split"):
        ShapesReferring("dev")


def test_config_validates():
    with pytest.raises(ConfigError, match="min_objects"):
        ShapesConfig(min_objects=4, max_objects=2)
    with pytest.raises(UnknownNameError, match="unknown classes/colours \\['hexagon'\\]"):
        ShapesConfig(classes=("hexagon",))
    with pytest.raises(ConfigError, match="non-empty"):
        ShapesConfig(colours=())


def test_scenes_drawn_again_come_from_the_kept_copies_unchanged_by_callers():
    from samprompt.data.shapes import DRAWN_SCENES, _DrawnScenes

    world = ShapesWorld(ShapesConfig(image_size=64))
    DRAWN_SCENES.clear()
    first = world.scene(11)
    first.image[:] = 0                      # a caller writing to its scene changes no later one
    first.masks[:] = False
    again = world.scene(11)
    DRAWN_SCENES.clear()
    fresh = world.scene(11)
    assert again.image.any() and np.array_equal(again.image, fresh.image)
    assert np.array_equal(again.masks, fresh.masks) and again.expressions == fresh.expressions
    clip = world.clip(3, frames=2)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(clip, world.clip(3, frames=2)))
    assert len(world.clip(3, frames=3)) == 3   # the frame count is part of the key

    small = _DrawnScenes(budget_bytes=3 * (64 * 64 * 3 + 64 * 64 * 6))
    for seed in range(10):
        small.get(("k", seed), lambda seed=seed: [world._draw_scene(seed)])
    assert small._bytes <= small.budget_bytes and 0 < len(small._scenes) < 10
    assert ("k", 9) in small._scenes and ("k", 0) not in small._scenes   # the oldest forgotten first
