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


def test_shapes_clip_script_writes_open_clip_local_dir(tmp_path):
    out = tmp_path / "clip"
    metrics = shapes_clip.main(["--steps", "2", "--batch-size", "8", "--out", str(out)])
    assert 0 <= metrics["zero_shot_shape_accuracy"] <= 1
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{out}")  # plain open_clip reads it
    bundle = load_clip("shapes", out)
    assert bundle.encode_text(["a red circle"]).shape == (1, 128)
    assert not any(p.requires_grad for p in bundle.model.parameters())


def test_soft_targets_mark_every_true_caption():
    images = [{"shape": "circle", "colour": "red", "size": "small"}, {"shape": "star", "colour": "red", "size": "large"}]
    captions = [{"shape": "circle"}, {"shape": "star", "colour": "red"}, {"shape": "circle", "colour": "blue"}]
    assert shapes_clip.soft_targets(images, captions).tolist() == [[1, 0, 0], [0, 1, 0]]


def test_clip_loss_prefers_matching_pairs():
    features = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    scale = torch.tensor(np.log(10.0))
    eye = torch.eye(4)
    matched = shapes_clip.clip_loss(features, features, scale, eye)
    shuffled = shapes_clip.clip_loss(features, features.roll(1, 0), scale, eye)
    assert matched < shuffled
