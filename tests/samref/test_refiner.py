import numpy as np
import pytest
import torch

from samprompt import NativePrompts
from samprompt.errors import CheckpointError
from samprompt.samref import SAMRef, SAMRefConfig
from samprompt.samref.refiner import RefinedPrediction
from samprompt.samref.window import crop
from tests.conftest import random_image

CLICKS = {"points": torch.tensor([[[20.0, 10.0], [30.0, 12.0]], [[5.0, 5.0], [40.0, 30.0]],
                                  [[10.0, 40.0], [0.0, 0.0]]]),
          "labels": torch.tensor([[1, 0], [1, 1], [1, -1]])}


@pytest.fixture
def images(rng):
    return [random_image(rng, 50, 70), random_image(rng, 64, 40)]


def silence_error_map(refiner) -> None:
    """Make the refiner's error map say 'SAM is right everywhere'."""
    last = refiner.head[-1]
    with torch.no_grad():
        last.weight[0].zero_()
        last.bias[0] = -1e4


def test_shapes_of_every_output(core, images):
    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=32, click_radius=2.0)).eval()
    batch_index = torch.tensor([0, 1, 1])
    with torch.no_grad():
        out = model(images, batch_index=batch_index, multimask_output=True, **CLICKS)
    assert isinstance(out, RefinedPrediction)
    size = core.image_size
    assert out.low_res_logits.shape == (3, 1, *core.mask_input_size)
    assert out.iou_predictions.shape == (3, 1)
    for maps in (out.coarse_logits, out.refined_logits, out.global_output.error, out.global_output.refined,
                 out.global_output.blended):
        assert maps.shape == (3, 1, size, size)
    assert out.windows.shape == (3, 4) and out.error_area.shape == (3,)
    rows = out.local_rows
    assert out.local_output.blended.shape == (len(rows), 1, 32, 32)
    assert [tuple(row.shape) for row in out.logits] == [(1, 50, 70), (1, 64, 40), (1, 64, 40)]


def test_parameter_count_is_small(core):
    from samprompt import build_sam

    tiny = SAMRef(build_sam("tiny"), SAMRefConfig(local_size=64))
    count = sum(p.numel() for p in tiny.refiner.parameters())
    assert 50_000 < count < 1_000_000
    assert {n.split(".")[0] for n, p in tiny.named_parameters() if p.requires_grad} == {"refiner"}


def test_blend_equals_sams_mask_where_the_error_map_says_so(core, images):
    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local=False, click_radius=2.0)).eval()
    silence_error_map(model.refiner.global_refiner)
    with torch.no_grad():
        out = model(images[:1], points=CLICKS["points"][:1], labels=CLICKS["labels"][:1])
        features = core.encode(images[:1])
        sam = core.decode(features, NativePrompts()(core, features, points=CLICKS["points"][:1],
                                                    labels=CLICKS["labels"][:1]), multimask_output=False)
    assert torch.equal(out.refined_logits, out.coarse_logits)
    assert torch.allclose(out.logits[0], sam.logits[0], atol=1e-4)
    assert torch.equal(out.masks[0], sam.masks[0])


def test_local_refiner_with_a_silent_error_map_keeps_the_global_result(core, images):
    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=64, click_radius=2.0)).eval()
    silence_error_map(model.refiner.global_refiner)
    silence_error_map(model.refiner.local_refiner)
    with torch.no_grad():
        out = model(images[:1], points=CLICKS["points"][:1], labels=CLICKS["labels"][:1])
    assert out.local_output is not None
    rows = out.local_rows
    # the local result is its input, the global result cropped from the window ...
    assert torch.equal(out.local_output.blended, crop(out.global_output.blended, out.windows[rows], rows, 64))
    # ... and outside the window the global result (here SAM's mask) is left alone
    x0, y0, x1, y1 = out.windows[0].tolist()
    outside = torch.ones(core.image_size, core.image_size, dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert torch.equal(out.refined_logits[0, 0][outside], out.coarse_logits[0, 0][outside])


def test_selector_keeps_the_previous_mask_when_the_error_area_grows(core, images):
    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=32, click_radius=2.0)).eval()
    size = core.image_size
    previous = torch.full((1, 1, size, size), 7.0)
    inputs = dict(points=CLICKS["points"][:1], labels=CLICKS["labels"][:1], previous_logits=previous)
    with torch.no_grad():
        model.refiner.global_refiner.head[-1].bias[0] = 50.0             # error everywhere: a large area
        grown = model(images[:1], previous_error_area=torch.tensor([1.0]), **inputs)
        calm = model(images[:1], previous_error_area=torch.tensor([1e9]), **inputs)
    assert grown.kept_previous.tolist() == [True] and calm.kept_previous.tolist() == [False]
    x0, y0, x1, y1 = grown.windows[0].tolist()
    outside = torch.ones(size, size, dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert (grown.refined_logits[0, 0][outside] == 7.0).all()
    assert torch.equal(calm.refined_logits[0, 0][outside], calm.global_output.blended[0, 0][outside])


def test_refiner_needs_the_image(core, images):
    model = SAMRef(core, SAMRefConfig(local_size=32))
    features = core.encode(images[:1])                          # keep_images=False
    with pytest.raises(ValueError, match="keep_images=True"):
        model(features=features, points=CLICKS["points"][:1], labels=CLICKS["labels"][:1])


def test_frame_targets_put_the_mask_where_the_image_is(core):
    model = SAMRef(core, SAMRefConfig(global_size=32, local_size=16))
    image = np.zeros((32, 64, 3), dtype=np.uint8)               # wide: the padded frame's lower half is padding
    features = core.encode([image], keep_images=True)
    mask = np.zeros((32, 64), dtype=bool)
    mask[:, 32:] = True                                         # the right half
    targets = model.refiner.frame_targets([mask], features, torch.tensor([0]))
    assert targets.shape == (1, 1, 32, 32)
    assert targets[0, 0, :16, 17:].min() > 0.99 and targets[0, 0, :16, :15].max() < 0.01
    assert targets[0, 0, 16:].max() == 0                        # padding
    assert model.refiner.valid_sizes(features, torch.tensor([0])).tolist() == [[16, 32]]


def test_save_and_load_round_trip(core, images, tmp_path):
    from samprompt import build_sam, load, save

    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1)).eval()
    with torch.no_grad():
        for p in model.refiner.parameters():
            p.add_(0.01)
    save(model, tmp_path / "samref")
    torch.manual_seed(0)
    loaded = load(tmp_path / "samref", build_sam("micro"))
    assert isinstance(loaded, SAMRef)
    assert loaded.config == model.config
    with torch.no_grad():
        a = model(images[:1], points=CLICKS["points"][:1], labels=CLICKS["labels"][:1])
        b = loaded(images[:1], points=CLICKS["points"][:1], labels=CLICKS["labels"][:1])
    assert torch.allclose(a.refined_logits, b.refined_logits)


def test_loading_other_weights_is_refused(core, tmp_path):
    from samprompt import PromptedSam
    from samprompt.methods import load_trained, save_trained
    from samprompt.prompts.fixed import LearnedConstantPrompt

    save_trained(PromptedSam(core, LearnedConstantPrompt(core.prompt_dim)), tmp_path / "other")
    with pytest.raises(CheckpointError, match="do not fit SAMRef"):
        load_trained(SAMRef(core), tmp_path / "other")


def test_a_bfloat16_model_clicks_in_bfloat16(core, images):
    model = SAMRef(core, SAMRefConfig(local_size=32, click_radius=2.0)).to(torch.bfloat16).eval()
    session = model.session(images[0])
    assert session.click(10, 10).shape == (50, 70)
    session.click(30, 20, positive=False)
    assert session.steps[-1].refined_logits.dtype == torch.bfloat16
