"""The click protocol over objects, with RITM's treatment of the ignore region."""
import math

import numpy as np
import pytest
import torch

from samprompt import PromptedSam
from samprompt.data import ShapesConfig, ShapesReferring
from samprompt.errors import ConfigError
from samprompt.interactive import Click, InteractiveSession, evaluate_interactive, run_object
from samprompt.interactive.protocol import run_objects
from samprompt.interactive.session import click_sessions
from samprompt.prompts import NativePrompts
from samprompt.refsam import RefSAM, RefSAMConfig
from samprompt.refsam.clicks import RefSAMWithClicks
from samprompt.samref import SAMRef, SAMRefConfig


def test_an_object_entirely_in_the_ignore_region_has_no_iou_and_counts_as_a_failure(core, image):
    gt = np.zeros(image.shape[:2], bool)                                   # image: H x W x 3
    gt[4:12, 4:12] = True
    ignored = {"image": image, "mask": gt, "ignore": gt.copy()}          # RITM: IoU = 0 / 0
    visible = {"image": image, "mask": gt}
    summary, runs = evaluate_interactive(core, [ignored, visible], refine=False, max_clicks=3)
    assert math.isnan(runs[0].ious[0]) and not runs[0].clicks
    assert summary["undefined_objects"] == 1 and summary["NoF@85"] >= 1
    assert summary["miou_per_click"][0] == round(runs[1].ious[0], 4)    # the means are the visible object's


WORLD = ShapesConfig(image_size=64, max_objects=3)


def _items(count: int = 5) -> list[dict]:
    data = ShapesReferring("val", count, WORLD)
    return [data[i] for i in range(count)]


def _same_runs(lockstep, one_by_one) -> None:
    for a, b in zip(lockstep, one_by_one):
        assert a.clicks == b.clicks
        assert np.allclose(a.ious, b.ious, atol=1e-6) and np.allclose(a.sam_ious, b.sam_ious, atol=1e-6)
        assert (a.start_iou is None) == (b.start_iou is None)
        assert a.start_iou is None or abs(a.start_iou - b.start_iou) < 1e-6


def _models(core, text_encoder) -> dict:
    torch.manual_seed(0)
    refiner = SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1, click_radius=2.0)).eval()
    text = RefSAM(core, text_encoder, RefSAMConfig(adapters=None)).eval()
    text_click = RefSAMWithClicks(core, text_encoder, RefSAMConfig(adapters=None, tracking=False)).eval()
    start_text = lambda item: {"text": [item["text"]]}  # noqa: E731
    return {
        "clicks alone (bare core)": (core, {}),
        "SAM-REF": (refiner, {}),
        "SAM alone on SAM-REF's model": (refiner, {"refine": False}),
        "text, then SAM's clicks": (core, {"start_with": text, "start_inputs": start_text}),
        "text kept with every click": (text_click, {"start_with": text_click, "start_inputs": start_text,
                                                    "keep_start": True}),
        "text chooses SAM's first mask": (core, {"start_with": text, "start_inputs": start_text,
                                                 "start_role": "choice"}),
    }


@pytest.mark.parametrize("protocol", ["clicks alone (bare core)", "SAM-REF", "SAM alone on SAM-REF's model",
                                      "text, then SAM's clicks", "text kept with every click",
                                      "text chooses SAM's first mask"])
def test_objects_clicked_in_lockstep_get_what_they_get_one_by_one_from_one_encoder_pass(core, text_encoder,
                                                                                        protocol):
    model, options = _models(core, text_encoder)[protocol]
    items = _items()
    calls = [0]
    core.sam.image_encoder.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    summary, runs = evaluate_interactive(model, items, max_clicks=4, batch_size=3, **options)
    assert calls[0] == 2                                  # 5 objects in batches of 3: two encoder passes
    one_summary, one_by_one = evaluate_interactive(model, items, max_clicks=4, **options)
    _same_runs(runs, one_by_one)
    assert summary["NoC@85"] == one_summary["NoC@85"] and summary["miou_per_click"] == one_summary["miou_per_click"]
    _, replayed = evaluate_interactive(model, items, max_clicks=4, batch_size=5, replay=one_by_one, **options)
    _same_runs(replayed, one_by_one)


def test_lockstep_objects_that_stop_early_leave_the_others_clicking(core):
    items = _items(3)
    empty = dict(items[1], mask=np.zeros_like(items[1]["mask"]))       # nothing to find: no click at all
    objects = [items[0], items[1], items[2], empty]
    given = [[Click(5, 5), Click(9, 9), Click(20, 20)], [Click(1, 1)], [Click(30, 30), Click(31, 31, False)],
             [Click(2, 2)]]
    sessions = [InteractiveSession(core, item["image"]) for item in objects]
    runs = run_objects(sessions, [item["mask"] for item in objects], max_clicks=3, clicks=given)
    assert [len(r.clicks) for r in runs] == [3, 1, 2, 0] and math.isnan(runs[3].ious[0])
    alone = [run_object(InteractiveSession(core, item["image"]), item["mask"], max_clicks=3, clicks=clicks)
             for item, clicks in zip(objects[:3], given)]
    _same_runs(runs[:3], alone)


def test_sessions_clicked_together_must_be_alike(core, text_encoder, image):
    a, b = InteractiveSession(core, image), InteractiveSession(core, image)
    with pytest.raises(ConfigError, match="one click per session, got 1 clicks for 2 sessions"):
        click_sessions([a, b], [(1, 1, True)])
    a.click(3, 3)
    with pytest.raises(ConfigError, match="same number of clicks"):
        click_sessions([a, b], [(1, 1, True), (2, 2, True)])
    with pytest.raises(ConfigError, match="same model"):
        click_sessions([InteractiveSession(core, image), InteractiveSession(core, image, refine=False)][:1]
                       + [InteractiveSession(PromptedSam(core, NativePrompts()), image)], [(1, 1, True)] * 2)
    model = RefSAMWithClicks(core, text_encoder, RefSAMConfig(adapters=None, tracking=False)).eval()
    two_rows = [model.session(image, text=["a red circle", "a square"], row=0) for _ in range(2)]
    with pytest.raises(ConfigError, match="start input 'text' of several sessions cannot be joined"):
        click_sessions(two_rows, [(1, 1, True)] * 2)
    with pytest.raises(ConfigError, match="batch_size must be a positive int"):
        evaluate_interactive(core, _items(1), batch_size=0)


def test_a_session_takes_an_encoding_already_made_and_refuses_one_of_another_batch(core, image):
    features = core.encode([image, image])
    session = InteractiveSession(core, image, features=features.select([0]))
    assert np.array_equal(session.click(10, 10), InteractiveSession(core, image).click(10, 10))
    with pytest.raises(ConfigError, match="features must be the encoding of this one image.* of 2 images"):
        InteractiveSession(core, image, features=features)
    refiner = SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1, click_radius=2.0))
    with pytest.raises(ConfigError, match="keep_images=True"):
        InteractiveSession(refiner, image, features=features.select([0]))
