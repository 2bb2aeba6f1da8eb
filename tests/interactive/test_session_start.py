"""Sessions that start from another prompt (text, class names), then take corrective clicks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt import PromptedSam, build_sam
from samprompt.clip.models import load_clip
from samprompt.errors import ConfigError, PromptError
from samprompt.interactive import InteractiveSession, evaluate_interactive
from samprompt.metrics.interactive import summarize
from samprompt.prompts import ClassPrompts, NativePrompts
from samprompt.refsam import RefSAM, RefSAMConfig
from samprompt.samref import SAMRef, SAMRefConfig
from tests.interactive.test_session import counting

CLASSES = ["background", "circle", "square"]


@pytest.fixture
def text_model(core, text_encoder) -> RefSAM:
    torch.manual_seed(0)
    return RefSAM(core, text_encoder, RefSAMConfig(adapters=None)).eval()


@pytest.fixture
def class_model(core) -> PromptedSam:
    torch.manual_seed(0)
    return PromptedSam(core, ClassPrompts(load_clip(), core.prompt_dim, templates=("a {}",))).eval()


def test_a_text_session_starts_from_the_text_mask_and_the_first_click_corrects_it(core, text_model, image):
    encoder_calls = counting(core.sam.image_encoder)
    session = text_model.session(image, text="the red circle")
    assert encoder_calls[0] == 1                                  # text and clicks share one encoder pass
    with torch.no_grad():
        own = text_model([image], text="the red circle", multimask_output=False)
    assert np.array_equal(session.mask, (own.logits[0][0] > 0).numpy())
    assert session.start.inputs == {"text": "the red circle"}
    mask = session.click(20, 10)
    # the click goes to SAM with the text mask's low-res logits as its mask input, single-mask output
    features = core.encode([image])
    with torch.no_grad():
        prompts = NativePrompts()(core, features, points=torch.tensor([[[20.0, 10.0]]]), labels=torch.ones(1, 1),
                                  masks=own.low_res_logits)
        expected = core.decode(features, prompts, multimask_output=False).logits[0][0] > 0
    assert np.array_equal(mask, expected.numpy())
    assert np.array_equal(session.undo(), session.start.mask)
    session.click(30, 30)
    session.reset()
    assert np.array_equal(session.mask, session.start.mask) and not session.clicks


def test_a_class_session_starts_from_the_chosen_class_row_and_clicks_go_to_a_refiner(core, class_model, image):
    encoder_calls = counting(core.sam.image_encoder)
    refiner = SAMRef(core, SAMRefConfig(local_size=32, click_radius=2.0))
    session = class_model.session(image, classes=CLASSES, row=1, clicks=refiner)
    assert encoder_calls[0] == 1
    with torch.no_grad():
        own = class_model([image], classes=CLASSES, multimask_output=False)
    assert np.array_equal(session.mask, (own.logits[1][0] > 0).numpy())
    session.click(20, 10)
    assert session.steps[-1].refined_logits is not None
    with pytest.raises(PromptError, match="start_row 3"):
        class_model.session(image, classes=CLASSES, row=3)


def test_the_start_model_must_share_the_core(core, text_model, image):
    torch.manual_seed(5)
    other = build_sam("micro")
    with pytest.raises(ConfigError, match="same core|session model's core"):
        text_model.session(image, text="a circle", clicks=other)


def test_text_then_clicks_counts_clicks_after_the_text(core, text_model, rng):
    image = rng.randint(0, 256, (40, 40, 3), dtype=np.uint8)
    gt = np.zeros((40, 40), dtype=bool)
    gt[10:30, 8:32] = True
    items = [{"image": image, "mask": gt, "expression": "the square"}]
    summary, runs = evaluate_interactive(core, items, max_clicks=3, start_with=text_model,
                                         start_inputs=lambda item: {"text": item["expression"]})
    assert runs[0].start_iou is not None and summary["start_miou"] == pytest.approx(runs[0].start_iou)
    plain, plain_runs = evaluate_interactive(core, items, max_clicks=3)
    assert plain_runs[0].start_iou is None and "start_miou" not in plain


def test_a_text_and_click_model_keeps_its_text_in_every_click(core, text_encoder, image):
    from samprompt.refsam.clicks import RefSAMWithClicks

    torch.manual_seed(0)
    model = RefSAMWithClicks(core, text_encoder, RefSAMConfig(adapters=None, tracking=False)).eval()
    session = model.session(image, text=["the red circle"])
    assert session.keep_start and session.model is model
    mask = session.click(20, 10, positive=False)
    features = core.encode([image])
    with torch.no_grad():
        expected = model(features=features, text=["the red circle"], points=torch.tensor([[[20.0, 10.0]]]),
                         labels=torch.zeros(1, 1), masks=session.start.low_res_logits).logits[0][0] > 0
    assert np.array_equal(mask, expected.numpy())
    plain = model.session(image, text=["the red circle"], clicks=core)             # SAM alone after the text
    assert not plain.keep_start
    with pytest.raises(ConfigError, match="keep_start"):
        from samprompt.interactive import InteractiveSession

        InteractiveSession(core, image, start_with=model, start_inputs={"text": ["a"]}, keep_start=True)


@pytest.mark.parametrize("options, error, message", [
    ({"refine": "yes"}, ConfigError, "refine must be True or False, got 'yes'"),
    ({"keep_start": 1}, ConfigError, "keep_start must be True or False, got 1"),
    ({"start_row": "0"}, PromptError, "start_row must be an int .* got '0'"),
    ({"start_row": 0.5}, PromptError, "start_row must be an int .* got 0.5"),
    ({"start_row": True}, PromptError, "start_row must be an int .* got True"),
    ({"start_inputs": ["the red circle"]}, ConfigError, "start_inputs must be a mapping .* got list"),
    ({"start_with": "text"}, ConfigError, "start_with must be a PromptedSam .* got str"),
])
def test_session_options_of_the_wrong_kind_are_named(core, text_model, image, options, error, message):
    if "start_inputs" in options or "start_row" in options:
        options = {"start_with": text_model, **options}
    with pytest.raises(error, match=message):
        InteractiveSession(core, image, **options)


def test_a_session_model_of_the_wrong_kind_is_named(image):
    with pytest.raises(ConfigError, match=r"model must be a core \(SamCore, Sam2Core\) or a PromptedSam, got str"):
        InteractiveSession("vit_b", image)


@pytest.mark.parametrize("settings, message", [
    ({"max_clicks": 0}, "max_clicks must be a positive int, got 0"),
    ({"max_clicks": 2.5}, "max_clicks must be a positive int, got 2.5"),
    ({"max_clicks": True}, "max_clicks must be a positive int, got True"),
    ({"thresholds": ()}, "thresholds must be a non-empty list"),
    ({"thresholds": "0.9"}, "thresholds must be a non-empty list"),
    ({"thresholds": (0.85, 1.5)}, r"IoUs in \(0, 1\], got 1.5"),
    ({"thresholds": (0.0,)}, r"IoUs in \(0, 1\], got 0.0"),
    ({"thresholds": (float("nan"),)}, r"IoUs in \(0, 1\], got nan"),
    ({"max_clicks": 3, "thresholds": (0.9,), "miou_at": 0}, "miou_at must be a positive int, got 0"),
])
def test_protocol_settings_are_checked_before_any_click(core, image, settings, message):
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[10:30, 20:40] = True
    encoder_calls = counting(core.sam.image_encoder)
    with pytest.raises(ConfigError, match=message):
        if "miou_at" in settings:
            summarize([[0.5, 0.9, 0.95]], **settings)
        else:
            evaluate_interactive(core, [{"image": image, "mask": mask}], **settings)
    assert encoder_calls[0] == 0


def test_a_start_mask_that_only_chooses_picks_the_sam_mask_it_overlaps_most(core, text_model, image):
    from samprompt.interactive.session import CHOICE_MIN_IOU

    session = text_model.session(image, text="the red circle", start_role="choice")
    assert session.model.generator.__class__ is NativePrompts and not session.keep_start   # SAM alone clicks
    assert not session.mask.any()                       # it starts from nothing, as clicks alone do
    features = core.encode([image])
    with torch.no_grad():
        own = core.decode(features, NativePrompts()(core, features, points=torch.tensor([[[20.0, 10.0]]]),
                                                    labels=torch.ones(1, 1)), multimask_output=True)
    masks = (own.logits[0] > 0).numpy()
    sam_choice = int(own.iou_predictions[0].argmax())
    for wanted in range(len(masks)):
        session.reset()
        session.start.mask = masks[wanted]              # IoU 1 with SAM's mask `wanted`
        chosen = session.click(20, 10)
        assert np.array_equal(chosen, masks[wanted] if masks[wanted].any() else masks[sam_choice])
        assert session.steps[-1].low_res_logits.shape[1] == 1
    session.reset()
    session.start.mask = np.zeros_like(masks[0])        # overlaps nothing: SAM's own choice
    assert np.array_equal(session.click(20, 10), masks[sam_choice])
    assert 0 < CHOICE_MIN_IOU < 1
    second = session.click(30, 30, positive=False)      # later clicks: SAM alone, its last mask as input
    with torch.no_grad():
        prompts = NativePrompts()(core, features, points=torch.tensor([[[20.0, 10.0], [30.0, 30.0]]]),
                                  labels=torch.tensor([[1, 0]]), masks=session.steps[0].low_res_logits)
        expected = core.decode(features, prompts, multimask_output=False).logits[0][0] > 0
    assert np.array_equal(second, expected.numpy())


def test_choice_sessions_count_every_click_and_refuse_what_they_cannot_do(core, text_model, text_encoder, image):
    gt = np.zeros(image.shape[:2], dtype=bool)
    gt[10:30, 8:32] = True
    items = [{"image": image, "mask": gt, "expression": "the square"}]
    summary, runs = evaluate_interactive(core, items, max_clicks=3, start_with=text_model, start_role="choice",
                                         start_inputs=lambda item: {"text": item["expression"]})
    assert runs[0].start_iou is None and "start_miou" not in summary and runs[0].clicks
    refiner = SAMRef(core, SAMRefConfig(local_size=32, click_radius=2.0))
    with pytest.raises(ConfigError, match="start_role must be one of"):
        InteractiveSession(core, image, start_with=text_model, start_inputs={"text": "a"}, start_role="guide")
    from samprompt.refsam.clicks import RefSAMWithClicks

    text_click = RefSAMWithClicks(core, text_encoder, RefSAMConfig(adapters=None, tracking=False))
    for model, options in ((core, {}), (text_click, {"start_with": text_click, "start_inputs": {"text": ["a"]},
                                                     "keep_start": True})):
        with pytest.raises(ConfigError, match="start_role='choice' needs a start_with model"):
            InteractiveSession(model, image, start_role="choice", **options)
    assert not text_click.session(image, text=["a"], start_role="choice").keep_start
    with pytest.raises(ConfigError, match="neither keep_start nor a refiner"):
        InteractiveSession(refiner, image, start_with=text_model, start_inputs={"text": "a"}, start_role="choice")
    InteractiveSession(refiner, image, start_with=text_model, start_inputs={"text": "a"}, start_role="choice",
                       refine=False)                  # SAM alone on the refiner's model: allowed
