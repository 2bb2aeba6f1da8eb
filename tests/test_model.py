import pytest
import torch
from torch import nn

from samprompt import MaskPrediction, NativePrompts, PromptedSam
from samprompt.errors import PromptError
from samprompt.tuning import LoraSettings, add_lora
from tests.helpers import LearnedTokens


class ScaleRefiner(nn.Module):
    """A minimal refiner: rescales the decoder's logits by a learned factor."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, core, features, prompts, prediction: MaskPrediction, *, sharpen: bool = True) -> MaskPrediction:
        factor = self.scale * (2.0 if sharpen else 1.0)
        return MaskPrediction(prediction.low_res_logits * factor, prediction.iou_predictions,
                              prediction.mask_tokens, prediction.batch_index,
                              None if prediction.logits is None else [t * factor for t in prediction.logits])


def test_trainable_parameters_are_exactly_generator_refiner_and_adapters(core, image):
    generator, refiner = LearnedTokens(core.prompt_dim), ScaleRefiner()
    model = PromptedSam(core, generator, refiner)
    assert set(model.trainable_parameters()) == {"generator.tokens", "refiner.scale"}
    add_lora(core, LoraSettings(targets=("encoder.qkv",), rank=2))
    lora = {f"core.{n}" for n, p in core.named_parameters() if "lora_" in n}
    assert lora and set(model.trainable_parameters()) == {"generator.tokens", "refiner.scale"} | lora


def test_forward_routes_inputs_to_generator_and_refiner(core, image):
    model = PromptedSam(core, NativePrompts(), ScaleRefiner())
    points, labels = torch.tensor([[[10.0, 10.0]]]), torch.tensor([[1]])
    sharp = model([image], points=points, labels=labels)
    plain = model([image], points=points, labels=labels, sharpen=False)
    torch.testing.assert_close(sharp.low_res_logits, 2 * plain.low_res_logits)
    assert sharp.low_res_logits.shape == (1, 1, 32, 32)
    with pytest.raises(PromptError, match="no inputs named \\['colour'\\]"):
        model([image], points=points, labels=labels, colour="red")


def test_forward_reuses_precomputed_features(core, image):
    model = PromptedSam(core, LearnedTokens(core.prompt_dim))
    features = core.encode([image, image])
    out = model(features=features, rows_per_image=2)
    assert out.low_res_logits.shape == (4, 1, 32, 32)
    assert out.batch_index.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="either images or precomputed features"):
        model()
