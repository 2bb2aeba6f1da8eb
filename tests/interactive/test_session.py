import numpy as np
import pytest
import torch

from samprompt.errors import ConfigError, PromptError
from samprompt.interactive import InteractiveSession
from samprompt.samref import SAMRef, SAMRefConfig
from samprompt.samref.refiner import RefinedPrediction


def counting(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("refine", [False, True])
def test_the_encoder_runs_once_per_session(core, image, refine):
    model = SAMRef(core, SAMRefConfig(local_size=32, click_radius=2.0))
    encoder_calls = counting(core.sam.image_encoder)
    mask_inputs = counting(core.sam.prompt_encoder.mask_downscaling)
    session = model.session(image, refine=refine)
    masks = [session.click(20, 10), session.click(40, 30, positive=False), session.click(5, 45)]
    session.undo()
    session.click(60, 20)
    session.reset()
    session.click(30, 25)
    assert encoder_calls[0] == 1
    # the previous click's low-res logits go back into SAM: every click but a session's first has a mask input
    assert mask_inputs[0] == 3
    assert all(m.shape == image.shape[:2] and m.dtype == bool for m in masks)
    assert len(session.clicks) == 1 and session.clicks[0].x == 30


def test_without_refiner_the_mask_is_sams_and_no_refiner_time_counts(core, image):
    session = SAMRef(core, SAMRefConfig(local_size=32)).session(image, refine=False)
    session.click(20, 10)
    step = session.steps[-1]
    assert np.array_equal(step.mask, step.sam_mask)
    assert step.refined_logits is None and step.refiner_seconds < step.decoder_seconds + 0.05


def test_a_bare_core_gives_sam_alone(core, image):
    session = InteractiveSession(core, image)
    assert session.refiner is None
    assert session.click(3, 4).shape == (50, 70)


def test_with_refiner_the_state_is_passed_on(core, image, monkeypatch):
    model = SAMRef(core, SAMRefConfig(local_size=32, click_radius=2.0))
    seen = []
    original = model.refiner.forward

    def spy(*args, **kwargs):
        seen.append((kwargs["previous_logits"], kwargs["previous_error_area"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(model.refiner, "forward", spy)
    session = model.session(image)
    session.click(20, 10)
    session.click(40, 30, positive=False)
    assert seen[0] == (None, None)
    first = session.steps[0]
    assert seen[1][0] is first.refined_logits and seen[1][1] is first.error_area


def test_clicks_outside_the_image_and_empty_undo_are_refused(core, image):
    session = InteractiveSession(core, image)
    with pytest.raises(PromptError, match="outside the 70 x 50"):
        session.click(70, 10)
    with pytest.raises(PromptError, match="outside"):
        session.click(-1, 10)
    with pytest.raises(PromptError, match=r"x=nan"):
        session.click(float("nan"), 10)
    with pytest.raises(PromptError, match="positive must be True / False .* got 0.5"):
        session.click(5, 5, 0.5)
    with pytest.raises(IndexError, match="nothing to undo"):
        session.undo()
    assert not session.mask.any()


def test_sessions_need_native_click_prompts(core, image):
    from samprompt import NativePrompts, PromptedSam

    with pytest.raises(ConfigError, match=r"NativePrompts.*frame='input'"):
        InteractiveSession(PromptedSam(core, NativePrompts(frame="input")), image)


def test_refined_prediction_is_what_the_model_returns(core, image):
    model = SAMRef(core, SAMRefConfig(local_size=32))
    prediction = model([image], points=torch.tensor([[[20.0, 10.0]]]), labels=torch.tensor([[1]]))
    assert isinstance(prediction, RefinedPrediction)
    assert prediction.masks[0].shape == (1, 50, 70)
