"""ONNX export of a SAM 2.1 core: ONNX Runtime against sam2's own image encoder, prompt encoder and mask decoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import samprompt
from samprompt.export import export_onnx, onnx_session

pytest.importorskip("sam2")
pytest.importorskip("onnxruntime")


def test_encoder_clicks_boxes_and_masks_match_sam2(tmp_path):
    core = samprompt.build_sam("sam2_micro", seed=0)
    manifest = export_onnx(core, tmp_path)
    assert manifest["preprocessing"]["resize_to"] == [core.image_size] * 2
    encoder = onnx_session(tmp_path / "encoder.onnx")
    decoder = onnx_session(tmp_path / "prompt_decoder.onnx")
    image = np.random.RandomState(0).randint(0, 256, (90, 120, 3), dtype=np.uint8)
    batch, _, original_sizes = core.preprocess([image])
    with torch.no_grad():
        features = core.encode([image], keep_intermediate=False)
    outputs = encoder.run(None, {"images": batch.numpy()})
    names = list(manifest["graphs"]["encoder"]["outputs"])
    assert names == ["image_embeddings", "high_res_0", "high_res_1"]
    for got, want in zip(outputs, (features.embeddings, *features.high_res)):
        assert got.shape == tuple(want.shape) and np.abs(got - want.numpy()).max() < 1e-4
    image_side = dict(zip(names, outputs))

    prompt_encoder, mask_decoder = core.sam.sam_prompt_encoder, core.sam.sam_mask_decoder
    h, w = core.mask_input_size
    clicks = core.input_coords(torch.tensor([[[30.0, 40.0], [90.0, 20.0]], [[60.0, 45.0], [10.0, 80.0]]]),
                               original_sizes[0])
    boxes = core.input_coords(torch.tensor([[10.0, 20.0, 70.0, 80.0], [0.0, 5.0, 110.0, 85.0]]).reshape(2, 2, 2),
                              original_sizes[0])
    cases = [  # (points, labels, mask prompt): two clicks; a box's corners before a click (as SAM2ImagePredictor)
        (clicks, torch.tensor([[1, 0], [1, 1]]), None),
        (torch.cat([boxes, clicks[:, :1]], 1), torch.tensor([[2, 3, 1], [2, 3, 0]]), torch.randn(2, 1, h, w))]
    for coords, labels, mask in cases:
        with torch.no_grad():     # sam2's prompt encoder appends its padding point; the graph takes it given
            padded = torch.cat([coords, torch.zeros(2, 1, 2)], 1), torch.cat([labels, -torch.ones(2, 1).long()], 1)
            sparse, dense = prompt_encoder(points=(coords, labels), boxes=None, masks=mask)
            low_res, iou, _, _ = mask_decoder(
                image_embeddings=features.embeddings, image_pe=prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True,
                repeat_image=True, high_res_features=list(features.high_res))
        feed = {**image_side, "point_coords": padded[0].numpy(), "point_labels": padded[1].numpy().astype(np.float32),
                "mask_input": (mask if mask is not None else torch.zeros(2, 1, h, w)).numpy(),
                "has_mask_input": np.full(2, 0.0 if mask is None else 1.0, np.float32)}
        masks, scores = decoder.run(None, feed)
        assert np.abs(masks - low_res.clamp(-32, 32).numpy()).max() < 1e-4
        assert np.abs(scores - iou.numpy()).max() < 1e-4

