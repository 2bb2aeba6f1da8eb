import numpy as np
from PIL import Image

from samprompt.plots import plot_bars, plot_curves
from samprompt.visualize import (
    NEGATIVE,
    PANEL,
    POSITIVE,
    caption,
    class_colours,
    draw_prompts,
    enlarge,
    legend,
    semantic_panels,
    side_by_side,
)


def grey(height=64, width=80):
    return np.full((height, width, 3), 128, np.uint8)


def test_small_images_are_enlarged_to_a_readable_panel():
    big, scale = enlarge(grey(64, 80))
    assert scale == 4 and big.shape == (256, 320, 3)
    same, scale = enlarge(grey(300, 400))
    assert scale == 1 and same.shape == (300, 400, 3)


def test_clicks_are_drawn_where_they_are_in_their_colours_and_a_box_as_a_white_rectangle():
    panel, scale = enlarge(grey(64, 80))
    picture = draw_prompts(panel, scale, clicks=[(10, 20, True), (60, 40, False)], box=(5, 5, 70, 60))
    assert tuple(picture[int(20.5 * 4) + 5, int(10.5 * 4)]) == POSITIVE  # below the number, inside the disk
    assert tuple(picture[int(40.5 * 4) + 5, int(60.5 * 4)]) == NEGATIVE
    assert tuple(picture[5 * 4, 40 * 4]) == (255, 255, 255)  # on the box's top edge
    assert tuple(picture[150, 150]) == (128, 128, 128)  # elsewhere untouched


def test_captions_sit_above_and_panels_are_titled():
    mask = np.zeros((64, 80), bool)
    mask[10:30, 20:50] = True
    picture = side_by_side(grey(), mask, mask, text=['"the red circle"', "IoU 0.91"])
    assert picture.shape[1] == 3 * 320 + 2 * 6 and picture.shape[0] > PANEL + 2 * 18
    strip = picture[:40]
    assert (strip < 100).any() and (strip == 255).mean() > 0.8  # dark text on white
    assert caption(grey(), []).shape == grey().shape


def test_semantic_panels_carry_a_legend_with_every_class_colour():
    labels = np.zeros((64, 80), np.uint8)
    labels[10:30, 20:50] = 2
    names = ["background", "circle", "square", "triangle"]
    picture = semantic_panels(grey(), labels, labels, names, text="classes")
    strip = legend(names, picture.shape[1])
    assert picture.shape[0] > 256 + strip.shape[0]
    for k in range(len(names)):
        assert (strip == class_colours(np.array(k))).all(axis=-1).any()
    colours = {tuple(class_colours(np.array(k))) for k in range(12)}
    assert len(colours) == 12  # distinct


def test_plots_are_written_as_pictures(tmp_path):
    path = plot_curves({"SAM alone": [0.6] * 20, "SAM-REF": list(np.linspace(0.6, 0.8, 20))}, tmp_path / "c.png",
                       title="IoU per click", xlabel="clicks", ylabel="mean IoU", ylim=(0, 1))
    noisy = plot_curves({"loss": list(np.random.default_rng(0).random(100))}, tmp_path / "l.png", title="loss",
                        xlabel="step", ylabel="loss", smooth=10)
    bars = plot_bars({"a": {"x": 0.5, "y": None}, "b": {"x": 0.2, "y": 0.9}}, tmp_path / "b.png", title="t",
                     ylabel="IoU")
    for file in (path, noisy, bars):
        width, height = Image.open(file).size
        assert width > 300 and height > 200
