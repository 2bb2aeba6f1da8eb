"""The SAM 2.1 core against Meta's own `SAM2ImagePredictor` on the same random-init weights."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import Tensor

pytest.importorskip("sam2")
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402

from samprompt.core.registry import SAM2_VARIANT_NAMES  # noqa: E402
from samprompt.core.sam2_core import SAM2_VARIANTS, Sam2Core, build_sam2_core  # noqa: E402
from samprompt.core.structures import Prompts  # noqa: E402
from samprompt.errors import CheckpointError, CheckpointNotFoundError, ConfigError, UnknownVariantError  # noqa: E402

SIZE = 256   # a 256 px hiera_t: the official architecture at a sixteenth of the pixels


@pytest.fixture(scope="module")
def core() -> Sam2Core:
    return build_sam2_core("sam2.1_hiera_t", image_size=SIZE, seed=0)


@pytest.fixture(scope="module")
def official(core, tmp_path_factory):
    """The core's weights in the official file format: the state dict under "model"."""
    path = tmp_path_factory.mktemp("checkpoint") / "sam2.1_hiera_tiny.pt"
    torch.save({"model": core.sam.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    first[15:45, 20:50] = (220, 40, 40)
    return [first, rng.integers(0, 256, (90, 50, 3), dtype=np.uint8)]


def reference(core: Sam2Core, image: np.ndarray) -> SAM2ImagePredictor:
    predictor = SAM2ImagePredictor(core.sam)
    side = core.embedding_size[0]
    predictor._bb_feat_sizes = [(4 * side, 4 * side), (2 * side, 2 * side), (side, side)]  # it assumes 1024 px
    predictor.set_image(image)
    return predictor


def ours(core, features, image_index, original, points=None, labels=None, box=None, mask_input=None, multimask=True):
    as_points = None
    if points is not None:
        xy = core.input_coords(torch.tensor(points, dtype=torch.float32)[None], original)
        as_points = (xy, torch.tensor(labels)[None])
    boxes = None
    if box is not None:
        boxes = core.input_coords(torch.tensor(box, dtype=torch.float32).view(1, 2, 2), original).view(1, 4)
    masks = None if mask_input is None else torch.as_tensor(mask_input)[None]
    sparse, dense = core.embed_prompts(as_points, boxes, masks)
    prompts = Prompts(sparse, dense, batch_index=torch.tensor([image_index]))
    return core.decode(features, prompts, multimask_output=multimask)


CASES = [
    {"points": [[30.0, 25.0]], "labels": [1], "multimask": True},
    {"points": [[30.0, 25.0], [45.0, 50.0]], "labels": [1, 0], "multimask": False},
    {"box": [18.0, 12.0, 48.0, 47.0], "multimask": False},
    {"box": [18.0, 12.0, 48.0, 47.0], "points": [[40.0, 30.0]], "labels": [0], "multimask": True},
]


def test_encoding_matches_the_image_predictors(core, images):
    features = core.encode(images)
    for i, image in enumerate(images):
        predictor = reference(core, image)
        torch.testing.assert_close(features.embeddings[i:i + 1], predictor._features["image_embed"])
        for ours_map, theirs in zip(features.high_res, predictor._features["high_res_feats"]):
            torch.testing.assert_close(ours_map[i:i + 1], theirs)
    assert [tuple(m.shape[-2:]) for m in features.intermediate] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    assert features.original_sizes == ((60, 80), (90, 50))
    # the same images as a list holding a 3 x H x W tensor, as SamCore.encode takes them
    mixed = core.encode([torch.as_tensor(images[0]).permute(2, 0, 1), images[1]])
    torch.testing.assert_close(mixed.embeddings, features.embeddings, rtol=1e-4, atol=1e-4)
    with pytest.raises(Exception, match="a tensor inside a list must be 3 x H x W"):
        core.encode([torch.zeros(2, 3, 8, 8)])


@pytest.mark.parametrize("case", CASES)
def test_decoding_matches_the_image_predictor(core, images, case):
    features = core.encode(images)
    for i, image in enumerate(images):
        original = image.shape[:2]
        predictor = reference(core, image)
        masks, scores, low_res = predictor.predict(point_coords=np.array(case["points"]) if "points" in case else None,
                                                   point_labels=np.array(case["labels"]) if "labels" in case else None,
                                                   box=np.array(case["box"]) if "box" in case else None,
                                                   multimask_output=case["multimask"], return_logits=True)
        prediction = ours(core, features, i, original, case.get("points"), case.get("labels"), case.get("box"),
                          multimask=case["multimask"])
        torch.testing.assert_close(prediction.low_res_logits[0].clamp(-32, 32), torch.as_tensor(low_res),
                                   rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(prediction.iou_predictions[0], torch.as_tensor(scores), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(prediction.logits[0], torch.as_tensor(masks), rtol=1e-4, atol=1e-4)
        # a second round with the low-res logits as the mask input
        again = predictor.predict(point_coords=np.array([[35.0, 30.0]]), point_labels=np.array([1]),
                                  mask_input=low_res[:1], multimask_output=False, return_logits=True)
        second = ours(core, features, i, original, [[35.0, 30.0]], [1], mask_input=low_res[:1], multimask=False)
        torch.testing.assert_close(second.logits[0], torch.as_tensor(again[0]), rtol=1e-4, atol=1e-4)


def test_rows_of_several_images_decode_in_one_batch(core, images):
    features = core.encode(images)
    xy = torch.tensor([[[30.0, 25.0]], [[20.0, 60.0]]])
    points = torch.cat([core.input_coords(xy[0], images[0].shape[:2]), core.input_coords(xy[1], images[1].shape[:2])])
    sparse, dense = core.embed_prompts((points[:, None], torch.ones(2, 1, dtype=torch.int)))
    batched = core.decode(features, Prompts(sparse, dense, batch_index=torch.tensor([0, 1])), multimask_output=False)
    for row in range(2):
        alone = core.decode(features, Prompts(sparse[row:row + 1], dense[row:row + 1],
                                              batch_index=torch.tensor([row])), multimask_output=False)
        torch.testing.assert_close(batched.low_res_logits[row], alone.low_res_logits[0], rtol=1e-4, atol=1e-5)
        assert batched.logits[row].shape[-2:] == images[row].shape[:2]


def test_checkpoints_load_in_the_official_format_and_wrong_ones_are_named(core, official, tmp_path):
    loaded = build_sam2_core("sam2.1_hiera_t", official, image_size=SIZE)
    assert loaded.weights == str(official.resolve())
    for key, value in core.sam.state_dict().items():
        assert torch.equal(loaded.sam.state_dict()[key], value), key
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        build_sam2_core("sam2.1_hiera_t", tmp_path / "missing.pt", image_size=SIZE)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(official.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        build_sam2_core("sam2.1_hiera_t", truncated, image_size=SIZE)
    with pytest.raises(CheckpointError, match=r"does not match SAM 2.1 variant 'sam2.1_hiera_s'.*of another shape"):
        build_sam2_core("sam2.1_hiera_s", official, image_size=SIZE)
    sam1 = tmp_path / "sam_vit_b.pth"
    torch.save({"image_encoder.blocks.0.attn.qkv.weight": torch.zeros(3, 1)}, sam1)
    with pytest.raises(CheckpointError, match="is a SAM 1 .* build_sam"):
        build_sam2_core("sam2.1_hiera_t", sam1, image_size=SIZE)
    with pytest.raises(UnknownVariantError, match="sam2.1_hiera_t"):
        build_sam2_core("sam2_hiera_huge")
    with pytest.raises(ConfigError, match="multiple of 32"):
        build_sam2_core("sam2.1_hiera_t", image_size=100)
    assert set(SAM2_VARIANTS) == set(SAM2_VARIANT_NAMES) == {
        "sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l", "sam2_tiny", "sam2_micro"}
    assert SAM2_VARIANTS["sam2.1_hiera_b+"].checkpoint_file == "sam2.1_hiera_base_plus.pt"


def test_the_core_is_frozen_and_seeded(core):
    assert not any(p.requires_grad for p in core.parameters())
    again = build_sam2_core("sam2.1_hiera_t", image_size=SIZE, seed=0)
    state = again.sam.state_dict()
    assert all(torch.equal(state[k], v) for k, v in core.sam.state_dict().items())
    assert core.describe().family == "sam2" and core.describe().weights == "random:seed=0"


def test_build_sam_gives_a_sam2_core_for_sam2_names(official):
    from samprompt import build_sam

    built = build_sam("sam2.1_hiera_t", official)
    assert isinstance(built, Sam2Core) and built.image_size == 1024 and built.weights == str(official.resolve())
    with pytest.raises(UnknownVariantError, match=r"SAM 2.1: sam2.1_hiera_t"):
        build_sam("sam2.1_hiera_xl")


def test_the_predictor_on_a_sam2_core_matches_the_image_predictor(core, images):
    from samprompt import Predictor

    ours_predictor = Predictor(core)
    for image in images:
        theirs = reference(core, image)
        ours_predictor.set_image(image)
        for case in CASES:
            kwargs = {"point_coords": np.array(case["points"]) if "points" in case else None,
                      "point_labels": np.array(case["labels"]) if "labels" in case else None,
                      "box": np.array(case["box"]) if "box" in case else None,
                      "multimask_output": case["multimask"]}
            for logits in (True, False):
                expected = theirs.predict(**kwargs, return_logits=logits)
                got = ours_predictor.predict(**kwargs, return_logits=logits)
                for mine, reference_value in zip(got, expected):
                    if mine.dtype == bool:
                        assert (mine != reference_value).mean() < 1e-3    # a pixel may sit on the threshold
                    else:
                        np.testing.assert_allclose(mine, reference_value, rtol=1e-4, atol=1e-4)
            low_res = expected[2]
            again = theirs.predict(point_coords=np.array([[35.0, 30.0]]), point_labels=np.array([1]),
                                   mask_input=low_res[:1], multimask_output=False)
            mine = ours_predictor.predict(point_coords=np.array([[35.0, 30.0]]), point_labels=np.array([1]),
                                          mask_input=low_res[:1], multimask_output=False)
            np.testing.assert_allclose(mine[1], again[1], rtol=1e-4, atol=1e-4)
    with pytest.raises(Exception, match="set_image"):
        ours_predictor.set_torch_image(torch.zeros(1, 3, SIZE, SIZE), (SIZE, SIZE))


def test_predict_batch_on_a_sam2_core_pads_ragged_rows_behind_the_box_tokens(core, images):
    """Image 1's rows have one click, image 0's two: image 1's are padded, after its box's two tokens."""
    from samprompt import Predictor

    predictor = Predictor(core)
    predictor.set_images(images)
    points = [np.array([[[30.0, 25.0], [60.0, 40.0]], [[10.0, 10.0], [0.0, 0.0]]]), np.array([[[20.0, 60.0]]])]
    labels = [np.array([[1, 0], [1, -1]]), np.array([[1]])]
    boxes = [np.array([[18.0, 12.0, 52.0, 47.0], [5.0, 5.0, 30.0, 30.0]]), np.array([[10.0, 40.0, 40.0, 80.0]])]
    batched = predictor.predict_batch(points, labels, boxes, multimask_output=False, return_logits=True)
    for i, image in enumerate(images):
        alone = Predictor(core)
        alone.set_image(image)
        for row in range(len(points[i])):
            masks, scores, low = alone.predict(points[i][row], labels[i][row], boxes[i][row],
                                               multimask_output=False, return_logits=True)
            np.testing.assert_allclose(batched[i][1][row].numpy(), scores, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(batched[i][2][row].numpy(), low, rtol=1e-4, atol=1e-4)


def test_lora_through_peft_on_hiera_and_sam2s_decoder(images):
    from samprompt.tuning import LoraSettings, add_lora, use_lora

    core = build_sam2_core("sam2.1_hiera_t", image_size=SIZE, seed=0)
    settings = LoraSettings(targets=("encoder.qkv", "encoder.mlp", "decoder.attn", "decoder.mlp"), rank=2,
                            encoder_blocks="second_half")
    names = add_lora(core, settings, name="clicks")
    depth = len(core.sam.image_encoder.trunk.blocks)
    assert f"image_encoder.trunk.blocks.{depth - 1}.attn.qkv" in names
    assert f"image_encoder.trunk.blocks.{depth - 1}.mlp.layers.1" in names
    assert "image_encoder.trunk.blocks.0.attn.qkv" not in names                   # second half only
    assert "sam_mask_decoder.transformer.final_attn_token_to_image.v_proj" in names
    assert "sam_mask_decoder.transformer.layers.1.mlp.layers.0" in names
    trainable = {n for n, p in core.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n for n in trainable)

    def run() -> Tensor:
        features = core.encode(images[:1])
        xy = core.input_coords(torch.tensor([[[30.0, 25.0]]]), images[0].shape[:2])
        sparse, dense = core.embed_prompts((xy, torch.ones(1, 1, dtype=torch.int)))
        return core.decode(features, Prompts(sparse, dense), multimask_output=False).low_res_logits

    with torch.no_grad():
        before = run()                                   # LoRA's B starts at zero: the same function
        use_lora(core, None)
        torch.testing.assert_close(run(), before)
        use_lora(core, "clicks")
    run().sum().backward()                               # with B at zero, only B's gradients are non-zero
    lora_b = [p for n, p in core.named_parameters() if ".lora_B" in n]
    assert all(p.grad is not None for p in lora_b) and any(bool(p.grad.abs().sum() > 0) for p in lora_b)
    with torch.no_grad():
        for p in lora_b:
            p.normal_(0, 0.05)
        assert not torch.allclose(run(), before)


def test_a_model_on_a_sam2_core_saves_names_its_family_and_loads_only_on_sam2(images, tmp_path):
    import samprompt
    from samprompt import NativePrompts, PromptedSam
    from samprompt.tuning import LoraSettings, add_lora

    core = build_sam2_core("sam2.1_hiera_t", image_size=SIZE, seed=3)
    add_lora(core, LoraSettings(targets=("decoder.attn",), rank=2))
    model = PromptedSam(core, NativePrompts())
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".lora_B" in name:
                parameter.normal_(0, 0.05)
    clicks = {"points": torch.tensor([[[30.0, 25.0]]]), "labels": torch.ones(1, 1, dtype=torch.int)}
    with torch.no_grad():
        expected = model(images[:1], **clicks).low_res_logits
    samprompt.save(model, tmp_path / "clicks")
    saved = json.loads((tmp_path / "clicks" / "adapter_config.json").read_text())
    assert saved["core"]["family"] == "sam2" and saved["core"]["weights"] == "random:seed=3"
    loaded = samprompt.load(tmp_path / "clicks")                  # the core rebuilt from its seed and size
    assert isinstance(loaded.core, Sam2Core) and loaded.core.image_size == SIZE
    with torch.no_grad():
        torch.testing.assert_close(loaded(images[:1], **clicks).low_res_logits, expected)
    with pytest.raises(CheckpointError, match="family: sam2 vs sam"):
        samprompt.load(tmp_path / "clicks", core=samprompt.build_sam("micro"))


def test_the_click_protocol_runs_on_a_sam2_core(core, images):
    from samprompt import Predictor
    from samprompt.interactive import InteractiveSession, evaluate_interactive

    image = images[0]
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[15:45, 20:50] = True
    summary, runs = evaluate_interactive(core, [{"image": image, "mask": mask}], max_clicks=3)
    assert len(runs[0].ious) == 3 and all(0.0 <= iou <= 1.0 for iou in runs[0].ious)
    session = InteractiveSession(core, image)
    first = session.click(35, 30)
    predictor = Predictor(core)
    predictor.set_image(image)
    masks, scores, _ = predictor.predict(point_coords=np.array([[35, 30]]), point_labels=np.array([1]))
    assert np.array_equal(first, masks[int(np.argmax(scores))])        # SAM's rule for one click


def test_combinations_run_on_the_families_all_their_parts_run_on(core):
    from samprompt import CombinedPrompts, NativePrompts, PromptedSam
    from samprompt.clip.models import load_clip
    from samprompt.prompts import ClassPrompts, PromptGenerator

    class SamOnly(PromptGenerator):
        prompt_inputs = ("anything",)

    with pytest.raises(ConfigError, match=r"CombinedPrompts runs on SAM \(segment-anything\) cores, got a SAM 2.1"):
        PromptedSam(core, CombinedPrompts(SamOnly(), NativePrompts()))
    with pytest.raises(ConfigError, match=r"SamOnly runs on SAM \(segment-anything\) cores, got a SAM 2.1 core "
                                          r"\(sam2.1_hiera_t\); SAM 2.1 support for it is not written yet"):
        PromptedSam(core, SamOnly())
    assert PromptedSam(core, CombinedPrompts(ClassPrompts(load_clip(), core.prompt_dim), NativePrompts())).core is core


def test_refsam_reads_hiera_stages_and_tracks_on_a_sam2_core(core, images, text_encoder, tmp_path):
    import samprompt
    from samprompt.refsam import RefSAM, RefSAMConfig

    torch.manual_seed(0)
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None))
    hda = model.generator.dense_attention
    assert model.generator.hda_blocks == (0, 1, 2)                     # all Hiera stages but the coarsest
    assert [level.image_proj[0].in_channels for level in hda.levels] == [96, 192, 384]   # each stage's width
    assert core.intermediate_widths() == {0: 96, 1: 192, 2: 384, 3: 768}
    with torch.no_grad():
        hda.fuse.weight.normal_(0, 0.02)                                # make HDA's part count
    texts = [["the red square", "the blue circle"], ["the green ring"]]
    prediction = model(images, text=texts)
    assert len(prediction.logits) == 3 and prediction.logits[2].shape[-2:] == images[1].shape[:2]
    prediction.low_res_logits.sum().backward()
    assert model.generator.mlp.layers[0].weight.grad is not None
    assert all(level_grad is not None for level_grad in (p.grad for p in hda.parameters()))
    track = model.generator.next_track(prediction.mask_tokens)          # the next frame's track token
    with torch.no_grad():
        tracked = model(images, text=texts, track=track.detach())
    assert tracked.low_res_logits.shape == prediction.low_res_logits.shape
    samprompt.save(model, tmp_path / "refsam")
    loaded = samprompt.load(tmp_path / "refsam", core=core, text_encoder=text_encoder)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images, text=texts).low_res_logits, model(images, text=texts).low_res_logits)



def test_escnet_runs_its_blocks_copied_from_sam2s_decoder(core, tmp_path):
    import samprompt
    from samprompt.clip.models import load_clip
    from samprompt.escnet import ESCNet, ESCNetConfig
    from tests.escnet_fixtures import CLASSES, SMALL

    torch.manual_seed(0)
    model = ESCNet(core, load_clip(), ESCNetConfig(**SMALL))
    block = model.blocks[0].sam.layers[0]
    own = core.mask_decoder.transformer.layers[0]
    assert torch.equal(block.self_attn.q_proj.weight, own.self_attn.q_proj.weight)   # starts from SAM 2's weights
    images = torch.randint(0, 256, (2, 3, 40, 56), dtype=torch.uint8)
    output = model(images, CLASSES)
    assert output.logits.shape == (2, len(CLASSES), 40, 56)
    output.logits.sum().backward()
    assert block.self_attn.q_proj.weight.grad is not None
    samprompt.save(model, tmp_path / "escnet")
    loaded = samprompt.load(tmp_path / "escnet", core=core)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(images, CLASSES).logits, model.eval()(images, CLASSES).logits)


def test_sam_ref_refines_clicks_on_a_sam2_core_and_saves(core, images, tmp_path):
    import samprompt
    from samprompt.samref import SAMRef, SAMRefConfig

    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=64, click_radius=3.0))
    session = model.session(images[0])
    first = session.click(30, 25)
    second = session.click(45, 40, positive=False)
    assert first.shape == second.shape == images[0].shape[:2]
    assert session.steps[-1].refined_logits.shape[-2:] == (SIZE, SIZE)        # the whole square frame
    clicks = {"points": torch.tensor([[[30.0, 25.0]]]), "labels": torch.ones(1, 1, dtype=torch.int)}
    refined = model(images[:1], **clicks)
    refined.refined_logits.sum().backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for p in trainable)
    assert not any(p.requires_grad for p in core.parameters())
    samprompt.save(model, tmp_path / "samref")
    with torch.no_grad():
        again = samprompt.load(tmp_path / "samref", core=core)(images[:1], **clicks).refined_logits
        torch.testing.assert_close(again, model(images[:1], **clicks).refined_logits)


def test_class_names_prompt_sams_decoder_on_a_sam2_core(core, images):
    from samprompt import PromptedSam
    from samprompt.clip.models import load_clip
    from samprompt.prompts import ClassPrompts

    features = core.encode(images, keep_images=True)
    pixels = core.input_pixels(features)
    resized = torch.nn.functional.interpolate(torch.as_tensor(images[0]).permute(2, 0, 1)[None].float() / 255,
                                              size=(SIZE, SIZE), mode="bilinear", antialias=True)[0] * 255
    assert pixels[0].shape == (3, SIZE, SIZE) and (pixels[0] - resized).abs().max() < 0.5
    torch.manual_seed(0)
    model = PromptedSam(core, ClassPrompts(load_clip(), core.prompt_dim, templates=("a {}",)))
    prediction = model(images, classes=["background", "circle", "square"], multimask_output=False)
    assert len(prediction.logits) == 6 and prediction.logits[3].shape[-2:] == images[1].shape[:2]
    prediction.low_res_logits.sum().backward()
    assert model.generator.class_token.weight.grad is not None


def test_bottleneck_adapters_on_hiera_blocks_of_every_width(images, tmp_path):
    import samprompt
    from samprompt import NativePrompts, PromptedSam
    from samprompt.tuning import BottleneckSettings, add_bottleneck_adapters, remove_bottleneck_adapters

    core = build_sam2_core("sam2.1_hiera_t", image_size=SIZE, seed=4)
    model = PromptedSam(core, NativePrompts())
    clicks = {"points": torch.tensor([[[30.0, 25.0]]]), "labels": torch.ones(1, 1, dtype=torch.int)}

    def run() -> Tensor:
        return model(images[:1], **clicks).low_res_logits

    with torch.no_grad():
        before = run()
    blocks = add_bottleneck_adapters(core, BottleneckSettings(blocks="all", ratio=0.25))
    trunk = core.sam.image_encoder.trunk.blocks
    assert blocks == list(range(len(trunk)))
    assert {trunk[i].mlp_adapter.down.in_features for i in blocks} == {96, 192, 384, 768}   # every Hiera stage
    with torch.no_grad():
        torch.testing.assert_close(run(), before)                  # up-projections start at zero
    run().sum().backward()
    assert all(trunk[i].attn_adapter.up.weight.grad is not None for i in blocks)
    with torch.no_grad():
        for i in blocks:
            trunk[i].attn_adapter.up.weight.normal_(0, 0.02)
        changed = run()
    assert not torch.allclose(changed, before)
    samprompt.save(model, tmp_path / "adapted")
    with torch.no_grad():
        torch.testing.assert_close(samprompt.load(tmp_path / "adapted")(images[:1], **clicks).low_res_logits, changed)
    remove_bottleneck_adapters(core)
    with torch.no_grad():
        torch.testing.assert_close(run(), before)


def test_native_clicks_train_with_lora_on_a_sam2_core_from_cached_embeddings():
    from samprompt import NativePrompts, PromptedSam
    from samprompt.data import ShapesConfig, ShapesInteractive
    from samprompt.methods import get_method
    from samprompt.native.task import NativeTask
    from samprompt.training import FeatureCache, TrainConfig, Trainer
    from samprompt.tuning import LoraSettings, add_lora

    core = build_sam2_core("sam2.1_hiera_t", image_size=SIZE, seed=0)
    add_lora(core, LoraSettings(targets=("decoder.attn",), rank=4))
    model = PromptedSam(core, NativePrompts())
    assert get_method("native").handles(model)
    cache = FeatureCache(core)
    task = NativeTask(cache=cache, box_probability=1.0)
    data = ShapesInteractive("train", size=8, config=ShapesConfig(image_size=64, max_objects=2))
    config = TrainConfig(steps=30, batch_size=4, lr=1e-2, seed=0, progress=False)
    losses = Trainer(model, task, data, config).fit().losses
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    assert cache.hits > 0 and len(cache) <= 8 and all(len(f.high_res) == 2 for f, _ in cache._store.values())


def test_the_cli_predicts_with_an_official_sam2_checkpoint(official, images, tmp_path, capsys):
    from PIL import Image

    from samprompt.cli import main

    Image.fromarray(images[0]).save(tmp_path / "picture.png")
    assert main(["predict", "--variant", "sam2.1_hiera_t", "--checkpoint", str(official), "--image",
                 str(tmp_path / "picture.png"), "--points", "30,25", "--out", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    mask = np.asarray(Image.open(result["mask"]))
    assert mask.shape == images[0].shape[:2] and 0.0 <= result["predicted_iou"]


def test_the_cli_trains_and_evaluates_native_clicks_on_an_official_sam2_checkpoint(official, tmp_path, capsys):
    from samprompt.cli import main

    config = {"variant": "sam2.1_hiera_t", "checkpoint": str(official), "eval_items": 1,
              "lora": {"targets": ["decoder.attn"], "rank": 2},
              "data": {"size": 2, "shapes": {"image_size": 64, "max_objects": 2}},
              "train": {"steps": 1, "batch_size": 2, "lr": 1e-3, "output_dir": str(tmp_path / "run"),
                        "progress": False}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "config.json")]) == 0
    saved = json.loads((tmp_path / "run" / "trained" / "adapter_config.json").read_text())
    assert saved["core"]["family"] == "sam2" and saved["core"]["weights"] == str(official.resolve())
    capsys.readouterr()
    assert main(["eval", "--variant", "sam2.1_hiera_t", "--weights", str(tmp_path / "run" / "trained"),
                 "--items", "1", "--out", str(tmp_path / "eval.json")]) == 0
    metrics = json.loads((tmp_path / "eval.json").read_text())
    assert 0.0 <= metrics["box_miou"] <= 1.0 and 0.0 <= metrics["point_miou"] <= 1.0


def test_text_free_baselines_run_on_a_sam2_core(core, images):
    from samprompt import PromptedSam
    from samprompt.prompts.fixed import FixedNativePrompt, LearnedConstantPrompt

    for generator in (LearnedConstantPrompt(core.prompt_dim), FixedNativePrompt(point=(0.5, 0.5)),
                      FixedNativePrompt(box=(0.0, 0.0, 1.0, 1.0))):
        prediction = PromptedSam(core, generator)(images, text=["a", "b"])
        assert [tuple(logits.shape[-2:]) for logits in prediction.logits] == [images[0].shape[:2],
                                                                             images[1].shape[:2]]
