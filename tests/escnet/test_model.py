from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.clip.models import load_clip
from samprompt.errors import CheckpointError, ConfigError, ImageFormatError, PromptError
from samprompt.escnet import ESCNet, ESCNetConfig
from samprompt.methods import load, load_trained, save
from tests.escnet_fixtures import CLASSES, SMALL


def test_output_shapes_at_the_input_size(escnet, images):
    out = escnet(images, CLASSES)
    assert out.logits.shape == (2, 5, 40, 56)
    assert out.semantic.shape == (2, 40, 56) and out.semantic.max() < 5
    assert out.correlation.shape == (2, 5, 8, 8)
    assert out.prompts.points.shape == (10, escnet.config.pseudo.regions, 2)


def test_every_esc_block_starts_from_the_cores_decoder_weights(escnet, core):
    reference = core.sam.mask_decoder.transformer.layers.state_dict()
    for block in escnet.blocks:
        copied = block.sam.layers.state_dict()
        assert all(torch.equal(copied[k], reference[k]) for k in reference)


def test_permuting_the_classes_permutes_the_outputs(escnet, images):
    out = escnet(images, CLASSES)
    order = [3, 0, 4, 2, 1]
    permuted = escnet(images, [CLASSES[i] for i in order])
    assert torch.allclose(permuted.logits, out.logits[:, order], atol=1e-4)
    assert torch.equal(permuted.semantic, torch.tensor(order).argsort()[out.semantic])


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_classes_agree_with_all_at_once(escnet, images, chunk):
    full = escnet(images, CLASSES).logits
    assert torch.allclose(escnet(images, CLASSES, class_chunk=chunk).logits, full, atol=1e-4)


def test_the_class_list_can_change_between_calls(escnet, images):
    assert escnet(images, ["star"]).logits.shape == (2, 1, 40, 56)
    many = [f"shape {i}" for i in range(12)]
    assert escnet(images[:1], many).logits.shape == (1, 12, 40, 56)


def test_arrays_are_accepted_and_bad_inputs_named(escnet, images):
    arrays = [image.permute(1, 2, 0).numpy() for image in images]
    assert torch.allclose(escnet(arrays, CLASSES).logits, escnet(images, CLASSES).logits)
    with pytest.raises(ImageFormatError, match="B x 3 x H x W"):
        escnet(torch.zeros(2, 1, 32, 32), CLASSES)
    with pytest.raises(ImageFormatError, match="uint8"):
        escnet([np.zeros((32, 32, 3), np.float32)], CLASSES)
    with pytest.raises(ImageFormatError, match="share a size"):
        escnet([np.zeros((32, 32, 3), np.uint8), np.zeros((32, 40, 3), np.uint8)], CLASSES)
    for bad in ([], None, "circle", ["circle", None], ["circle", "circle"], {"circle", "square"}):
        with pytest.raises(PromptError, match="class"):
            escnet(images, bad)
    for chunk in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match=f"class_chunk must be a positive int or None, got {chunk!r}"):
            escnet(images, CLASSES, class_chunk=chunk)


def test_gradients_reach_escnet_and_sam_blocks_but_not_the_frozen_parts(escnet, images):
    escnet.train()
    escnet(images, CLASSES).logits.mean().backward()
    groups = escnet.parameter_groups()
    assert groups["sam"] and groups["escnet"] and not groups["clip"]
    assert all(p.grad is not None for p in groups["sam"] + groups["escnet"])
    assert not any(p.requires_grad for p in escnet.prompt_encoding.parameters())
    assert not escnet.prompt_encoding.training and not escnet.clip.clip.training


def test_escnet_holds_sams_prompt_side_but_not_its_image_encoder(core, escnet):
    names = [name for name, _ in escnet.named_parameters()]
    assert not any("image_encoder" in name for name in names)
    assert any(name.startswith("prompt_encoding.encoder.") for name in names)
    assert escnet.core_info == core.describe()


def test_pseudo_prompts_embed_the_same_under_bf16_autocast(escnet, images):
    """Regression: ESC-Net called SAM's prompt encoder itself, skipping the core's rule that keeps
    the Fourier features out of autocast; under CPU bf16 its sparse tokens moved by up to 0.096."""
    with torch.no_grad():
        prompts = escnet(images, CLASSES).prompts
        rows = torch.arange(len(images) * len(CLASSES))
        reference = escnet.embed_pseudo_prompts(prompts, rows, (8, 8))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = escnet.embed_pseudo_prompts(prompts, rows, (8, 8))
            positional = escnet.prompt_encoding.positional_encoding((8, 8), dtype=torch.float32)
    assert torch.equal(autocast[0], reference[0]) and torch.equal(autocast[1], reference[1])
    assert torch.equal(positional, escnet.prompt_encoding.encoder.pe_layer((8, 8))[None])


def test_clip_attention_fine_tuning_is_optional(core, images):
    model = ESCNet(core, load_clip(), ESCNetConfig(**{**SMALL, "clip_finetune": "attention"}))
    model(images, CLASSES).logits.mean().backward()
    clip_params = model.parameter_groups()["clip"]
    assert clip_params and all(p.grad is not None for p in clip_params)


def test_random_sam_init_changes_the_blocks(core):
    model = ESCNet(core, load_clip(), ESCNetConfig(**{**SMALL, "sam_init": "random"}))
    reference = core.sam.mask_decoder.transformer.layers.state_dict()
    assert not torch.equal(model.blocks[0].sam.layers.state_dict()["0.mlp.lin1.weight"], reference["0.mlp.lin1.weight"])


def test_save_and_load_round_trip(escnet, core, images, tmp_path):
    with torch.no_grad():
        for parameter in escnet.parameters():
            if parameter.requires_grad:
                parameter.add_(0.01 * torch.randn_like(parameter))
    expected = escnet(images, CLASSES).logits
    save(escnet, tmp_path / "esc")
    loaded = load(tmp_path / "esc", core)
    assert isinstance(loaded, ESCNet)
    assert loaded.config == escnet.config
    assert torch.allclose(loaded(images, CLASSES).logits, expected, atol=1e-5)


def test_load_refuses_other_models_weights(core, tmp_path, text_encoder):
    from samprompt.refsam import RefSAM, RefSAMConfig

    save(RefSAM(core, text_encoder, RefSAMConfig(mlp_hidden_dim=8, dense="sentence")), tmp_path / "ref")
    with pytest.raises(CheckpointError, match="holds a 'refsam' model, not a 'escnet' one"):
        load_trained(ESCNet(core, load_clip(), ESCNetConfig(**SMALL)), tmp_path / "ref")


def test_bfloat16_model_runs(escnet, images):
    out = escnet.to(torch.bfloat16)(images, CLASSES)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits.float()).all()


def test_correlation_residual_starts_as_clip_alone_and_trains_a_correction(core, images):
    model = ESCNet(core, load_clip(), ESCNetConfig(**{**SMALL, "correlation_residual": True})).eval()
    with torch.no_grad():
        out = model(images, CLASSES)
        alone = model.clip.correlation_map(images.float(), CLASSES)
    assert torch.allclose(out.logits, model.correlation_scale * alone, atol=1e-5)
    assert torch.equal(out.semantic, alone.argmax(dim=1))
    assert model.correlation_scale.item() == pytest.approx(model.clip.clip.logit_scale.exp().item())
    model.train()
    model(images, CLASSES).logits.mean().backward()   # the zero head still learns, and so does the scale
    assert model.decoder.head.weight.grad.abs().sum() > 0 and model.correlation_scale.grad is not None
    assert any(p is model.correlation_scale for p in model.parameter_groups()["escnet"])


def test_a_correlation_residual_model_saves_and_loads(core, images, tmp_path):
    model = ESCNet(core, load_clip(), ESCNetConfig(**{**SMALL, "correlation_residual": True})).eval()
    with torch.no_grad():
        model.correlation_scale.fill_(3.0)
        model.decoder.head.weight.normal_(0, 0.1)
        expected = model(images, CLASSES).logits
    save(model, tmp_path / "residual")
    loaded = load(tmp_path / "residual", core)
    assert loaded.config.correlation_residual and loaded.correlation_scale.item() == 3.0
    assert torch.allclose(loaded(images, CLASSES).logits, expected, atol=1e-5)
