"""The class-name prompt path exported to ONNX, in ONNX Runtime against the PyTorch model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.data import ShapesSemantic
from samprompt.export import export_onnx, onnx_session
from samprompt.methods import get_method

pytest.importorskip("onnxruntime")


def test_classes_on_a_wide_and_a_tall_scene_match_pytorch(core, tmp_path):
    model = get_method("classes").example(core).eval()
    manifest = export_onnx(model, tmp_path)
    assert set(manifest["graphs"]) == {"encoder", "class_prompt_decoder"}
    encoder = onnx_session(tmp_path / "encoder.onnx")
    session = onnx_session(tmp_path / "class_prompt_decoder.onnx")
    data = ShapesSemantic("test", 2)
    wide, tall = data[0]["image"], data[1]["image"]
    scenes = [wide[:, : wide.shape[1] * 2 // 3], tall[: tall.shape[0] // 2]]
    for scene, names in zip(scenes, (["background", "circle", "square"], ["background", "star", "ring", "circle"])):
        batch, input_sizes, _ = model.core.preprocess([scene])
        with torch.no_grad():
            want = model([scene], classes=names)
            embeddings = model.generator.clip.encode_classes(names)
        (embedding,) = encoder.run(None, {"images": batch.numpy()})
        masks, iou = session.run(None, {"images": batch.numpy(), "input_size": np.array(input_sizes[0]),
                                        "image_embeddings": embedding, "class_embeddings": embeddings.numpy()})
        assert masks.shape == tuple(want.low_res_logits.shape) == (len(names), 1, *core.mask_input_size)
        assert np.abs(masks - want.low_res_logits.numpy()).max() < 1e-3
        assert np.abs(iou - want.iou_predictions.numpy()).max() < 1e-3
