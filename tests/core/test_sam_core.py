import numpy as np
import pytest
import torch
from PIL import Image

import samprompt
from samprompt import NativePrompts, Prompts
from samprompt.errors import ConfigError, ImageFormatError, PromptError
from tests.conftest import random_image


def test_core_is_frozen_and_in_eval_mode(core):
    assert not any(p.requires_grad for p in core.parameters())
    assert not core.sam.training
    assert core.variant == "micro"


def test_encode_batches_images_of_different_sizes_and_keeps_global_block_outputs(core, rng):
    images = [random_image(rng, 50, 70), Image.fromarray(random_image(rng, 64, 20))]
    features = core.encode(images)
    assert features.embeddings.shape == (2, 32, 8, 8)
    assert features.original_sizes == ((50, 70), (64, 20))
    assert features.input_sizes == ((46, 64), (64, 20))
    assert features.intermediate_blocks == (1, 3)  # micro's global-attention blocks
    assert [tuple(t.shape) for t in features.intermediate] == [(2, 32, 8, 8)] * 2
    # The last global block's output is what the neck turns into the embedding.
    neck = core.sam.image_encoder.neck(features.intermediate[-1])
    torch.testing.assert_close(neck, features.embeddings)


def test_one_batched_encode_equals_separate_encodes(core, rng):
    a, b = random_image(rng, 50, 70), random_image(rng, 30, 30)
    both = core.encode([a, b]).embeddings
    torch.testing.assert_close(both[0], core.encode([a]).embeddings[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both[1], core.encode([b]).embeddings[0], atol=1e-5, rtol=1e-5)


def test_encode_accepts_float_tensor_batches(core, rng):
    array = random_image(rng, 40, 40)
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None].float().repeat(3, 1, 1, 1)
    features = core.encode(tensor)
    assert features.embeddings.shape[0] == 3 and features.original_sizes == ((40, 40),) * 3


@pytest.mark.parametrize("bad, message", [
    (np.zeros((20, 20), np.uint8), "grayscale"),
    (np.zeros((20, 20, 1), np.uint8), "grayscale"),
    (np.zeros((20, 20, 4), np.uint8), "RGBA"),
    (np.zeros((20, 20, 3), np.float64), "dtype float64"),
    (np.zeros((0, 20, 3), np.uint8), "empty"),
    (Image.new("L", (10, 10)), "mode 'L'"),
    (Image.new("RGBA", (10, 10)), "mode 'RGBA'"),
    (torch.zeros(2, 4, 10, 10), "B x 3 x H x W"),
    (torch.zeros(1, 3, 10, 10, dtype=torch.int32), "dtype torch.int32"),
    ([], "no images"),
])
def test_bad_images_raise_clear_errors(core, bad, message):
    with pytest.raises(ImageFormatError, match=message):
        core.encode(bad if isinstance(bad, (torch.Tensor, list)) else [bad])


def test_decode_rows_on_different_images_match_single_image_decodes(core, rng):
    images = [random_image(rng, 50, 70), random_image(rng, 60, 40)]
    features = core.encode(images)
    generator = NativePrompts()
    points = torch.tensor([[[10.0, 20.0]], [[30.0, 5.0]], [[20.0, 50.0]]])
    labels = torch.ones(3, 1, dtype=torch.int)
    batch_index = torch.tensor([0, 0, 1])
    together = core.decode(features, generator(core, features, points=points, labels=labels,
                                               batch_index=batch_index))
    assert together.low_res_logits.shape == (3, 3, 32, 32)
    assert together.mask_tokens.shape == (3, 3, 32)
    assert [tuple(t.shape) for t in together.logits] == [(3, 50, 70), (3, 50, 70), (3, 60, 40)]
    for row, image in enumerate(batch_index.tolist()):
        single = features.select([image])
        alone = core.decode(single, generator(core, single, points=points[row:row + 1], labels=labels[row:row + 1]))
        torch.testing.assert_close(together.low_res_logits[row], alone.low_res_logits[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(together.logits[row], alone.logits[0], atol=1e-4, rtol=1e-4)


def test_padding_tokens_do_not_change_the_result(core, image):
    features = core.encode([image])
    prompts = NativePrompts()(core, features, points=torch.tensor([[[10.0, 20.0], [30.0, 30.0]]]),
                              labels=torch.tensor([[1, 0]]))
    reference = core.decode(features, prompts)
    garbage = torch.randn(1, 5, core.prompt_dim) * 10
    padding = torch.ones(1, 5, dtype=torch.bool)
    padded = core.decode(features, prompts.append_tokens(garbage, padding))
    torch.testing.assert_close(padded.low_res_logits, reference.low_res_logits, atol=1e-5, rtol=1e-5)
    unmasked = core.decode(features, prompts.append_tokens(garbage))
    assert not torch.allclose(unmasked.low_res_logits, reference.low_res_logits, atol=1e-3)


def test_extra_tokens_change_the_result_and_are_validated(core, image):
    features = core.encode([image])
    prompts = NativePrompts()(core, features, boxes=torch.tensor([[5.0, 5.0, 40.0, 30.0]]))
    base = core.decode(features, prompts, multimask_output=False)
    extra = core.decode(features, prompts, multimask_output=False, extra_tokens=torch.randn(1, 1, core.prompt_dim))
    assert base.low_res_logits.shape == extra.low_res_logits.shape == (1, 1, 32, 32)
    assert not torch.allclose(base.low_res_logits, extra.low_res_logits)
    with pytest.raises(PromptError, match="extra tokens"):
        core.decode(features, prompts, extra_tokens=torch.randn(1, 1, 7))


def test_ragged_rows_need_a_batch_index(core, rng):
    features = core.encode([random_image(rng, 30, 30), random_image(rng, 30, 30)])
    prompts = Prompts(torch.randn(3, 2, core.prompt_dim))
    with pytest.raises(PromptError, match=r"3 prompt rows \(texts, click rows, boxes or class lists\) for 2 images: give one per image"):
        core.decode(features, prompts)
    with pytest.raises(PromptError, match=r"batch_index values must be in \[0, 2\)"):
        core.decode(features, Prompts(torch.randn(3, 2, core.prompt_dim), batch_index=torch.tensor([0, 1, 2])))


def test_bfloat16_autocast_forward(core, image):
    features_fp32 = core.encode([image])
    prompts = NativePrompts()(core, features_fp32, points=torch.tensor([[[10.0, 20.0]]]), labels=torch.tensor([[1]]))
    reference = core.decode(features_fp32, prompts)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = core.encode([image])
        prediction = core.decode(features, NativePrompts()(core, features, points=torch.tensor([[[10.0, 20.0]]]),
                                                           labels=torch.tensor([[1]])))
    assert prediction.low_res_logits.dtype == torch.bfloat16
    assert torch.isfinite(prediction.low_res_logits.float()).all()
    agreement = ((prediction.low_res_logits.float() > 0) == (reference.low_res_logits > 0)).float().mean()
    assert agreement > 0.9


def test_core_cast_to_bfloat16_keeps_fourier_matrix_float32_and_runs(core, image):
    core = core.to(torch.bfloat16)
    assert core.dtype == torch.bfloat16
    assert core.sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.dtype == torch.float32
    features = core.encode([image])
    prompts = NativePrompts()(core, features, points=torch.tensor([[[10.0, 20.0]]]), labels=torch.tensor([[1]]),
                              masks=torch.zeros(1, 1, 32, 32))
    prediction = core.decode(features, prompts)
    assert prediction.low_res_logits.dtype == torch.bfloat16


def test_wrapping_a_plain_sam_recognises_its_variant():
    torch.manual_seed(0)
    sam = samprompt.core.get_variant("micro").build()
    core = samprompt.SamCore(sam, frozen=False)
    assert core.variant == "micro"
    assert all(p.requires_grad for p in core.parameters())
    with pytest.raises(ConfigError, match="segment_anything.modeling.Sam, got Linear"):
        samprompt.SamCore(torch.nn.Linear(2, 2))


def test_dense_positional_encoding_is_cached_until_its_buffer_changes():
    core = samprompt.build_sam("micro", pretrained=False)
    first = core.dense_positional_encoding()
    assert core.dense_positional_encoding() is first
    assert torch.equal(first, core.sam.prompt_encoder.get_dense_pe())
    state = core.state_dict()
    key = next(k for k in state if k.endswith("positional_encoding_gaussian_matrix"))
    state[key] = torch.randn_like(state[key])
    core.load_state_dict(state)  # copies in place: same tensor, new version
    reloaded = core.dense_positional_encoding()
    assert not torch.equal(reloaded, first) and torch.equal(reloaded, core.sam.prompt_encoder.get_dense_pe())
    core.to(torch.bfloat16)
    assert core.dense_positional_encoding().dtype == torch.bfloat16
