"""Rows of different kinds in one batch (`StackedPrompts`): one encoder pass, one decoder call, rows as alone."""
from __future__ import annotations

import pytest
import torch

from samprompt import PromptedSam
from samprompt.clip.models import load_clip
from samprompt.errors import PromptError
from samprompt.prompts import ClassPrompts, NativePrompts, StackedPrompts
from samprompt.refsam import RefSAM, RefSAMConfig
from tests.conftest import random_image
from tests.interactive.test_session import counting

CLASSES = ["background", "circle", "square"]


@pytest.fixture
def generators(core, text_encoder):
    torch.manual_seed(0)
    text = RefSAM(core, text_encoder, RefSAMConfig(adapters=None)).generator.eval()
    classes = ClassPrompts(load_clip(), core.prompt_dim, templates=("a {}",)).eval()
    return {"text": text, "classes": classes, "clicks": NativePrompts()}


def test_text_class_and_click_rows_share_one_encoder_pass_and_one_decoder_call(core, generators, rng):
    images = [random_image(rng, 50, 70), random_image(rng, 48, 48)]
    model = PromptedSam(core, StackedPrompts(**generators))
    inputs = {"text": {"text": ["the red circle", "a square"], "batch_index": [1, 0]},
              "classes": {"classes": CLASSES, "class_images": [1]},
              "clicks": {"points": torch.tensor([[[10.0, 12.0]], [[30.0, 20.0]]]), "labels": torch.ones(2, 1),
                         "batch_index": [0, 1]}}
    encoder, decoder = counting(core.sam.image_encoder), counting(core.sam.mask_decoder.output_upscaling)
    with torch.no_grad():
        mixed = model(images, multimask_output=False, **inputs)
    assert (encoder[0], decoder[0]) == (1, 1)
    assert model.generator.last_kinds == ["text"] * 2 + ["classes"] * 3 + ["clicks"] * 2
    assert mixed.batch_index.tolist() == [1, 0, 1, 1, 1, 0, 1]
    features = core.encode(images, keep_images=True)
    expected = []
    with torch.no_grad():
        for name, generator in generators.items():
            alone = core.decode(features, generator(core, features, **inputs[name]), multimask_output=False)
            expected.append(alone.low_res_logits)
    torch.testing.assert_close(mixed.low_res_logits, torch.cat(expected), atol=1e-5, rtol=1e-5)
    assert [tuple(m.shape) for m in mixed.logits[:2]] == [(1, 48, 48), (1, 50, 70)]     # each at its image size


def test_only_the_kinds_given_make_rows_and_wrong_inputs_are_named(core, generators, image):
    model = PromptedSam(core, StackedPrompts(**generators))
    with torch.no_grad():
        clicks = model([image], clicks={"points": torch.tensor([[[10.0, 12.0]]]), "labels": torch.ones(1, 1)})
    assert len(clicks) == 1 and model.generator.last_kinds == ["clicks"]
    with pytest.raises(PromptError, match="no generator named \\['boxes'\\]"):
        model([image], boxes={"boxes": torch.zeros(1, 4)})
    with pytest.raises(PromptError, match="clicks: NativePrompts takes no inputs \\['text'\\]"):
        model([image], clicks={"text": ["a circle"]})
    with pytest.raises(PromptError, match="no rows"):
        model([image])
