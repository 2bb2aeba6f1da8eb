"""Shapes world: a procedural scene generator (no files, deterministic by seed).

Each scene is a textured, noisy background with a few objects of several classes, colours
and sizes, drawn back to front so that later objects occlude earlier ones. A scene knows its
visible instance masks, its class map and, for every object it can single out, a referring
expression ("the large red circle", "the triangle on the left"). Clips move the objects
along straight lines, bouncing off the borders.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from samprompt.errors import ConfigError, UnknownNameError

SHAPE_CLASSES = ("circle", "square", "triangle", "star", "ring", "cross")
COLOURS = {
    "red": (220, 50, 47),
    "green": (60, 170, 60),
    "blue": (40, 90, 220),
    "yellow": (235, 200, 40),
    "purple": (150, 70, 190),
    "white": (240, 240, 240),
}
SIZE_WORDS = ("small", "medium", "large")


@dataclass(frozen=True)
class ShapesConfig:
    """How scenes are drawn.

    Attributes:
        image_size: side of the square images, in pixels.
        min_objects / max_objects: objects per scene.
        classes / colours: the vocabulary a scene draws from.
        radius_fraction: (min, max) object radius as a fraction of `image_size`.
        noise: standard deviation of the background pixel noise (0-255 scale).
        min_visible_fraction: an object hidden more than this by later ones is redrawn.
    """

    image_size: int = 128
    min_objects: int = 2
    max_objects: int = 5
    classes: tuple[str, ...] = SHAPE_CLASSES
    colours: tuple[str, ...] = tuple(COLOURS)
    radius_fraction: tuple[float, float] = (0.07, 0.2)
    noise: float = 12.0
    min_visible_fraction: float = 0.4

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ConfigError(f"image_size must be at least 32, got {self.image_size}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ConfigError(f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}")
        unknown = sorted(set(self.classes) - set(SHAPE_CLASSES)) + sorted(set(self.colours) - set(COLOURS))
        if unknown:
            raise UnknownNameError(f"unknown classes/colours {unknown}; classes come from {SHAPE_CLASSES}, "
                                   f"colours from {tuple(COLOURS)}")
        if not self.classes or not self.colours:
            raise ConfigError(f"classes and colours must be non-empty, got classes={tuple(self.classes)}, "
                              f"colours={tuple(self.colours)}")
        low, high = self.radius_fraction
        if not 0 < low <= high < 0.5:
            raise ConfigError(f"radius_fraction must satisfy 0 < min <= max < 0.5, got {self.radius_fraction}")


@dataclass
class ShapeObject:
    """One object: class, colour, centre (x, y) in pixels, radius, rotation (radians)."""

    shape: str
    colour: str
    centre: tuple[float, float]
    radius: float
    angle: float
    velocity: tuple[float, float] = (0.0, 0.0)

    def polygon_mask(self, size: int) -> np.ndarray:
        """The object's full (unoccluded) H x W boolean mask."""
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        x, y = self.centre
        r = self.radius
        if self.shape == "circle":
            draw.ellipse([x - r, y - r, x + r, y + r], fill=1)
        elif self.shape == "ring":
            draw.ellipse([x - r, y - r, x + r, y + r], fill=1)
            inner = 0.55 * r
            draw.ellipse([x - inner, y - inner, x + inner, y + inner], fill=0)
        elif self.shape == "cross":
            arm = 0.35 * r
            for points in (((-r, -arm), (r, -arm), (r, arm), (-r, arm)), ((-arm, -r), (arm, -r), (arm, r), (-arm, r))):
                draw.polygon(self._place(points), fill=1)
        else:
            draw.polygon(self._place(self._outline()), fill=1)
        return np.asarray(canvas, dtype=bool)

    def _outline(self) -> list[tuple[float, float]]:
        r = self.radius
        if self.shape == "square":
            s = r / math.sqrt(2) * 1.25
            return [(-s, -s), (s, -s), (s, s), (-s, s)]
        if self.shape == "triangle":
            return [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        if self.shape == "star":
            return [((r if k % 2 == 0 else 0.45 * r) * math.cos(-math.pi / 2 + k * math.pi / 5),
                     (r if k % 2 == 0 else 0.45 * r) * math.sin(-math.pi / 2 + k * math.pi / 5)) for k in range(10)]
        raise UnknownNameError(f"no outline for shape {self.shape!r}; shapes: {SHAPE_CLASSES}")

    def _place(self, points) -> list[tuple[float, float]]:
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        x, y = self.centre
        return [(x + px * cos - py * sin, y + px * sin + py * cos) for px, py in points]


@dataclass
class Scene:
    """A rendered scene.

    Attributes:
        image: H x W x 3 uint8 RGB.
        objects: the objects, back to front.
        masks: K x H x W boolean visible masks, one per object.
        class_map: H x W uint8, 0 for background and 1 + class index for objects.
        expressions: object index -> a referring expression that identifies only it.
    """

    image: np.ndarray
    objects: list[ShapeObject]
    masks: np.ndarray
    class_map: np.ndarray
    expressions: dict[int, str] = field(default_factory=dict)


def size_words(masks: np.ndarray) -> list[str]:
    """small / medium / large by visible area, relative to the scene's own objects."""
    areas = masks.reshape(len(masks), -1).sum(1)
    order = np.argsort(areas, kind="stable")
    words = ["medium"] * len(masks)
    if len(masks) >= 2:
        words[order[0]] = "small"
        words[order[-1]] = "large"
    return words


def _background(rng: np.random.Generator, size: int, noise: float) -> np.ndarray:
    base = rng.uniform(40, 140, size=3)
    tilt = rng.uniform(-40, 40, size=(2, 3))
    y, x = np.mgrid[:size, :size] / size
    image = base + x[..., None] * tilt[0] + y[..., None] * tilt[1]
    stripes = rng.uniform(4, 14) * np.sin(2 * np.pi * (x * rng.uniform(1, 6) + y * rng.uniform(1, 6)))
    image = image + stripes[..., None] + rng.normal(0, noise, size=(size, size, 3))
    return image


def render(objects: list[ShapeObject], background: np.ndarray, rng: np.random.Generator, noise: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Draw `objects` (back to front) over `background`; returns the image and visible masks."""
    size = background.shape[0]
    image = background.copy()
    full = np.stack([obj.polygon_mask(size) for obj in objects]) if objects else np.zeros((0, size, size), bool)
    visible = full.copy()
    for k, obj in enumerate(objects):
        shade = np.array(COLOURS[obj.colour], dtype=np.float64) + rng.normal(0, noise / 2, size=(size, size, 3))
        image[full[k]] = shade[full[k]]
        visible[:k] &= ~full[k]
    return np.clip(image, 0, 255).astype(np.uint8), visible


def _clearly_least(value: float, values: list[float], gap: float = 8.0) -> bool:
    """`value` is the smallest of `values` (two or more, itself included) by more than `gap`."""
    ordered = sorted(values)
    return value == ordered[0] and ordered[1] - value > gap


def describe(objects: list[ShapeObject], masks: np.ndarray) -> dict[int, str]:
    """A referring expression for every object that some template singles out."""
    words = size_words(masks)
    centres = [obj.centre for obj in objects]
    areas = masks.reshape(len(masks), -1).sum(1)
    expressions: dict[int, str] = {}
    for k, obj in enumerate(objects):
        same_class = [j for j, o in enumerate(objects) if o.shape == obj.shape]
        same_colour_class = [j for j in same_class if objects[j].colour == obj.colour]
        same_colour = [j for j, o in enumerate(objects) if o.colour == obj.colour]
        candidates: list[str] = []
        if len(same_colour_class) == 1:
            candidates.append(f"the {words[k]} {obj.colour} {obj.shape}" if words[k] != "medium"
                              else f"the {obj.colour} {obj.shape}")
        if len(same_class) == 1:
            candidates.append(f"the {obj.shape}")
        if len(same_class) >= 2:
            xs = [centres[j][0] for j in same_class]
            if _clearly_least(obj.centre[0], xs):
                candidates.append(f"the {obj.shape} on the left")
            if _clearly_least(-obj.centre[0], [-x for x in xs]):
                candidates.append(f"the {obj.shape} on the right")
            class_areas = [areas[j] for j in same_class]
            if areas[k] == min(class_areas) and sorted(class_areas)[1] > 1.3 * areas[k]:
                candidates.append(f"the smallest {obj.shape}")
            if areas[k] == max(class_areas) and areas[k] > 1.3 * sorted(class_areas)[-2]:
                candidates.append(f"the largest {obj.shape}")
        if len(same_colour) >= 2 and _clearly_least(obj.centre[0], [centres[j][0] for j in same_colour]):
            candidates.append(f"the {obj.colour} shape on the left")
        if candidates and masks[k].sum() > 0:
            expressions[k] = candidates[0]
    return expressions


def _copy_scene(scene: Scene) -> Scene:
    return Scene(scene.image.copy(), [ShapeObject(**vars(o)) for o in scene.objects], scene.masks.copy(),
                 scene.class_map.copy(), dict(scene.expressions))


def _scene_bytes(scenes: list[Scene]) -> int:
    return sum(s.image.nbytes + s.masks.nbytes + s.class_map.nbytes for s in scenes)


class _DrawnScenes:
    """Scenes already drawn, by (config, kind, seed, frames), up to a budget of bytes (the oldest
    forgotten first). A training run reads each scene of its dataset once per epoch, and drawing one
    costs milliseconds of noise generation; callers get copies, so they may write to them."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._scenes: OrderedDict[tuple, list[Scene]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, draw: Callable[[], list[Scene]]) -> list[Scene]:
        try:
            hash(key)
        except TypeError:   # a config holding lists: drawn every time
            return draw()
        with self._lock:
            scenes = self._scenes.get(key)
            if scenes is not None:
                self._scenes.move_to_end(key)
        if scenes is None:
            scenes = draw()
            size = _scene_bytes(scenes)
            with self._lock:
                if key not in self._scenes and size <= self.budget_bytes:
                    self._scenes[key] = [_copy_scene(s) for s in scenes]
                    self._bytes += size
                    while self._bytes > self.budget_bytes:
                        _, dropped = self._scenes.popitem(last=False)
                        self._bytes -= _scene_bytes(dropped)
            return scenes
        return [_copy_scene(s) for s in scenes]

    def clear(self) -> None:
        with self._lock:
            self._scenes.clear()
            self._bytes = 0


# 128 MB: about 800 scenes of the default 128 px world, one demo training set several times over.
DRAWN_SCENES = _DrawnScenes(budget_bytes=128 * 2**20)


class ShapesWorld:
    """Draws scenes and clips from seeds: the same seed always gives the same pixels (scenes
    drawn recently are kept, `DRAWN_SCENES`, and handed out as copies)."""

    def __init__(self, config: ShapesConfig = ShapesConfig()) -> None:
        self.config = config

    def _objects(self, rng: np.random.Generator) -> list[ShapeObject]:
        c = self.config
        count = int(rng.integers(c.min_objects, c.max_objects + 1))
        size = c.image_size
        objects = []
        for _ in range(count):
            radius = float(rng.uniform(*c.radius_fraction) * size)
            centre = (float(rng.uniform(radius, size - radius)), float(rng.uniform(radius, size - radius)))
            speed = rng.uniform(1.0, 4.0) * size / 128
            direction = rng.uniform(0, 2 * math.pi)
            objects.append(ShapeObject(
                shape=str(rng.choice(c.classes)), colour=str(rng.choice(c.colours)), centre=centre, radius=radius,
                angle=float(rng.uniform(0, 2 * math.pi)),
                velocity=(speed * math.cos(direction), speed * math.sin(direction)),
            ))
        return objects

    def scene(self, seed: int) -> Scene:
        """The scene of `seed`; objects hidden below `min_visible_fraction` are dropped."""
        return DRAWN_SCENES.get((self.config, "scene", int(seed), 1), lambda: [self._draw_scene(seed)])[0]

    def clip(self, seed: int, frames: int = 4) -> list[Scene]:
        """`frames` scenes of the same objects moving (bouncing off the borders)."""
        return DRAWN_SCENES.get((self.config, "clip", int(seed), int(frames)), lambda: self._draw_clip(seed, frames))

    def _draw_scene(self, seed: int) -> Scene:
        rng = np.random.default_rng(seed)
        c = self.config
        background = _background(rng, c.image_size, c.noise)
        objects = self._objects(rng)
        full_areas = [obj.polygon_mask(c.image_size).sum() for obj in objects]
        image, masks = render(objects, background, np.random.default_rng(seed + 7_919), c.noise)
        keep = [k for k, obj in enumerate(objects) if masks[k].sum() >= c.min_visible_fraction * full_areas[k]]
        if len(keep) < len(objects):
            objects = [objects[k] for k in keep]
            image, masks = render(objects, background, np.random.default_rng(seed + 7_919), c.noise)
        return self._scene(image, objects, masks)

    def _draw_clip(self, seed: int, frames: int) -> list[Scene]:
        rng = np.random.default_rng(seed)
        c = self.config
        background = _background(rng, c.image_size, c.noise)
        objects = self._objects(rng)
        scenes = []
        for t in range(frames):
            image, masks = render(objects, background, np.random.default_rng(seed + 7_919 + t), c.noise)
            scenes.append(self._scene(image, [ShapeObject(**vars(o)) for o in objects], masks))
            for obj in objects:
                (x, y), (vx, vy), r = obj.centre, obj.velocity, obj.radius
                if not r <= x + vx <= c.image_size - r:
                    vx = -vx
                if not r <= y + vy <= c.image_size - r:
                    vy = -vy
                obj.centre, obj.velocity = (x + vx, y + vy), (vx, vy)
        return scenes

    def _scene(self, image: np.ndarray, objects: list[ShapeObject], masks: np.ndarray) -> Scene:
        class_map = np.zeros(masks.shape[1:], dtype=np.uint8)
        for k, obj in enumerate(objects):
            class_map[masks[k]] = 1 + self.config.classes.index(obj.shape)
        return Scene(image, objects, masks, class_map, describe(objects, masks))
