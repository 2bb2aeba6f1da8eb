"""The scripts that made the shipped models run end to end (a few steps) and write loadable files."""
import json

import numpy as np
import open_clip
import torch
from accelerate.state import AcceleratorState

import samprompt
from samprompt.clip import load_clip
from samprompt.pretrain import shapes_clip, tiny_sam


def test_tiny_sam_script_writes_a_loadable_core(tmp_path):
    AcceleratorState._reset_state(reset_partial_state=True)
    metrics = tiny_sam.main(["--steps", "2", "--batch-size", "2", "--eval-items", "3",
                             "--out", str(tmp_path / "w"), "--work-dir", str(tmp_path / "work")])
    assert set(metrics) >= {"box_miou", "point_miou"}
    core = samprompt.build_sam("tiny", checkpoint=tmp_path / "w" / "sam_tiny.safetensors")
    assert core.variant == "tiny"
    record = json.loads((tmp_path / "w" / "sam_tiny.json").read_text())
    assert record["args"]["steps"] == 2


def test_tiny_sam_script_runs_the_interactive_recipe_and_records_the_click_protocol(tmp_path):
    AcceleratorState._reset_state(reset_partial_state=True)
    metrics = tiny_sam.main(["--steps", "1", "--batch-size", "2", "--eval-items", "3", "--recipe", "interactive",
                             "--iterations", "3", "--click-items", "2", "--out", str(tmp_path / "w"),
                             "--work-dir", str(tmp_path / "work")])
    protocol = metrics["click_protocol"]
    assert protocol["objects"] == 2 and len(protocol["miou_per_click"]) == 20 and "NoC@90" in protocol
    record = json.loads((tmp_path / "w" / "sam_tiny.json").read_text())
    assert record["args"]["recipe"] == "interactive" and "--recipe interactive" in record["command"]


def test_tiny_sam_script_continues_from_init_weights_and_records_how_they_were_made(tmp_path):
    from safetensors.torch import load_file

    AcceleratorState._reset_state(reset_partial_state=True)
    tiny_sam.main(["--steps", "1", "--batch-size", "2", "--eval-items", "2", "--click-items", "1",
                   "--out", str(tmp_path / "first"), "--work-dir", str(tmp_path / "work1")])
    AcceleratorState._reset_state(reset_partial_state=True)
    tiny_sam.main(["--steps", "1", "--batch-size", "2", "--eval-items", "2", "--click-items", "1", "--lr", "1e-12",
                   "--recipe", "interactive", "--iterations", "2",
                   "--init", str(tmp_path / "first" / "sam_tiny.safetensors"),
                   "--out", str(tmp_path / "second"), "--work-dir", str(tmp_path / "work2")])
    before = load_file(str(tmp_path / "first" / "sam_tiny.safetensors"))
    after = load_file(str(tmp_path / "second" / "sam_tiny.safetensors"))
    assert all(torch.allclose(before[k].float(), after[k].float(), atol=1e-3) for k in before)  # lr ~0: init kept
    record = json.loads((tmp_path / "second" / "sam_tiny.json").read_text())
    assert record["init_record"]["args"]["recipe"] == "single" and record["args"]["recipe"] == "interactive"


def test_shapes_clip_script_writes_open_clip_local_dir(tmp_path):
    out = tmp_path / "clip"
    metrics = shapes_clip.main(["--steps", "2", "--batch-size", "8", "--dense-batch", "2", "--out", str(out)])
    assert 0 <= metrics["zero_shot_shape_accuracy"] <= 1 and 0 <= metrics["correlation_argmax_miou"] <= 1
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{out}")  # plain open_clip reads it
    bundle = load_clip("shapes", out)
    assert bundle.encode_text(["a red circle"]).shape == (1, 128)
    assert not any(p.requires_grad for p in bundle.model.parameters())


def test_soft_targets_mark_every_true_caption():
    images = [{"shape": "circle", "colour": "red", "size": "small"},
              {"shape": "star", "colour": "red", "size": "large"}]
    captions = [{"shape": "circle"}, {"shape": "star", "colour": "red"}, {"shape": "circle", "colour": "blue"}]
    assert shapes_clip.soft_targets(images, captions).tolist() == [[1, 0, 0], [0, 1, 0]]


def test_clip_loss_prefers_matching_pairs():
    features = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    scale = torch.tensor(np.log(10.0))
    eye = torch.eye(4)
    matched = shapes_clip.clip_loss(features, features, scale, eye)
    shuffled = shapes_clip.clip_loss(features, features.roll(1, 0), scale, eye)
    assert matched < shuffled


def test_shapes_clip_script_continues_from_init_weights_and_records_them(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    shapes_clip.main(["--steps", "1", "--batch-size", "4", "--dense-batch", "0", "--out", str(first)])
    shapes_clip.main(["--steps", "1", "--batch-size", "4", "--dense-batch", "2", "--lr", "1e-12",
                      "--init", str(first), "--out", str(second)])
    before, after = load_clip("shapes", first).model.state_dict(), load_clip("shapes", second).model.state_dict()
    assert all(torch.allclose(before[k].float(), after[k].float(), atol=1e-3) for k in before)  # lr ~0: init kept
    record = json.loads((second / "training.json").read_text())
    assert record["init_record"]["args"]["dense_batch"] == 0


def test_scene_windows_come_with_the_class_share_of_every_patch():
    image, targets = shapes_clip.scene_window(7, 64, 8, np.random.default_rng(0))
    assert image.shape == (3, 64, 64) and 0 <= image.min() and image.max() <= 1
    assert targets.shape == (len(shapes_clip.SCENE_CLASSES), 8, 8)
    assert torch.allclose(targets.sum(0), torch.ones(8, 8), atol=1e-5)
    assert targets[0].max() == 1 and targets[1:].sum() > 0      # background patches and some object


def test_dense_loss_prefers_patches_aligned_with_their_class_text():
    torch.manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(3, 16), dim=-1)
    labels = torch.randint(0, 3, (2, 4, 4))
    targets = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    aligned = text[labels].permute(0, 3, 1, 2)
    scale = torch.tensor(np.log(20.0))
    assert shapes_clip.dense_loss(aligned, text, scale, targets) < shapes_clip.dense_loss(aligned.roll(1, 2), text,
                                                                                           scale, targets)


def test_balanced_dense_loss_weighs_a_rare_class_up_and_keeps_the_plain_mean_at_zero():
    text = torch.eye(2, 4)
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, 0, 0] = 1                                     # one patch of the rare class among 15
    targets = torch.nn.functional.one_hot(labels, 2).permute(0, 3, 1, 2).float()
    scale = torch.tensor(np.log(10.0))
    all_background = text[0].view(1, 4, 1, 1).expand(1, 4, 4, 4)      # the rare patch misread
    plain = shapes_clip.dense_loss(all_background, text, scale, targets)
    logp = torch.tensor([10.0, 0.0]).log_softmax(0)
    assert torch.isclose(plain, -(15 * logp[0] + logp[1]) / 16)
    assert torch.isclose(shapes_clip.dense_loss(all_background, text, scale, targets, balance=0.0), plain)
    # inverse frequency: the rare patch weighs 15 times a background one, half of the total
    balanced = shapes_clip.dense_loss(all_background, text, scale, targets, balance=1.0)
    assert torch.isclose(balanced, -(logp[0] + logp[1]) / 2)
    assert balanced > plain
    # a class absent from the batch changes nothing (no 0 x inf)
    absent = torch.cat([targets, torch.zeros(1, 1, 4, 4)], 1)
    logp = torch.tensor([10.0, 0.0, 0.0]).log_softmax(0)
    assert torch.isclose(shapes_clip.dense_loss(all_background, torch.eye(3, 4), scale, absent, balance=1.0),
                         -(logp[0] + logp[1]) / 2)


def test_dense_training_reads_whole_scenes_as_dense_clip_does_and_trains_the_positional_embedding():
    from samprompt.clip.dense import DenseClip

    trained = load_clip("shapes", frozen=False).model
    reader = DenseClip(load_clip("shapes"), image_size=128)
    images = torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8)
    with torch.no_grad():
        expected, _ = reader.encode_image(images)
    patches = shapes_clip.scene_patches(trained.visual, reader.normalise(images))
    assert patches.shape == expected.shape == (2, 128, 16, 16)
    assert torch.allclose(patches, expected, atol=1e-5)
    patches.sum().backward()
    assert trained.visual.positional_embedding.grad.abs().sum() > 0
    assert trained.visual.positional_embedding.shape[0] == 1 + 8 * 8       # the stored one keeps its size
