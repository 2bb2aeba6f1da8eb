"""RefSAM's exported text path in ONNX Runtime against the PyTorch model: images, video frames, text + clicks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.export import export_onnx, onnx_session
from samprompt.methods import get_method
from samprompt.refsam.clicks import row_parts

pytest.importorskip("onnxruntime")

EXPRESSIONS = ["the red circle", "a blue square", "the small green triangle on the left"]


def text_feed(model, expressions) -> dict[str, np.ndarray]:
    prompt = model.text_prompt if hasattr(model, "text_prompt") else model.generator
    features = prompt.encode_text(expressions)
    return {"sentence": features.sentence.numpy(), "tokens": features.tokens.numpy(),
            "token_padding": features.padding_mask.numpy()}


def encoded(model, tmp_path, image, **export):
    """Export `model` and run encoder.onnx on `image`: (manifest, encoder outputs by name, PyTorch features)."""
    manifest = export_onnx(model, tmp_path, **export)
    batch, _, _ = model.core.preprocess([image])
    names = list(manifest["graphs"]["encoder"]["outputs"])
    outputs = dict(zip(names, onnx_session(tmp_path / "encoder.onnx").run(None, {"images": batch.numpy()})))
    return manifest, outputs, model.core.encode([image])


def test_text_and_track_over_two_frames_match_pytorch(core, tmp_path):
    model = get_method("refsam").example(core).eval()
    image = np.random.RandomState(0).randint(0, 256, (48, 64, 3), dtype=np.uint8)
    manifest, outputs, features = encoded(model, tmp_path, image, text=EXPRESSIONS)
    levels = model.generator.hda_blocks
    assert levels and set(outputs) == {"image_embeddings", *(f"level_{b}" for b in levels)}
    for block, level in zip(features.intermediate_blocks, features.intermediate):
        if block in levels:
            assert np.abs(outputs[f"level_{block}"] - level.numpy()).max() < 1e-4
    session = onnx_session(tmp_path / "text_prompt_decoder.onnx")
    rows = len(EXPRESSIONS)
    with np.load(tmp_path / "prompt_inputs.npz", allow_pickle=False) as precomputed:    # written by the export
        text = dict(precomputed)
    assert manifest["prompt_inputs"]["text"] == EXPRESSIONS and set(text) == {"sentence", "tokens", "token_padding"}
    feed = {**outputs, **text, "track": np.zeros((rows, 1, core.prompt_dim), np.float32),
            "has_track": np.zeros(rows, np.float32)}
    with torch.no_grad():
        first = model(features=features, text=EXPRESSIONS)
        track = model.next_track(first)
        second = model(features=features, text=EXPRESSIONS, track=track)
        later = model.next_track(second, track)
    masks, iou, next_track = session.run(None, feed)
    assert masks.shape == tuple(first.low_res_logits.shape) == (rows, 1, *core.mask_input_size)
    assert np.abs(masks - first.low_res_logits.numpy()).max() < 1e-4
    assert np.abs(iou - first.iou_predictions.numpy()).max() < 1e-4
    assert np.abs(next_track - track.numpy()).max() < 1e-4
    masks, _, next_track = session.run(None, {**feed, "track": next_track, "has_track": np.ones(rows, np.float32)})
    assert np.abs(masks - second.low_res_logits.numpy()).max() < 1e-4
    assert np.abs(next_track - later.numpy()).max() < 1e-4
    assert float((second.low_res_logits - first.low_res_logits).abs().max()) > 1e-3   # the track token mattered


def test_text_click_and_both_rows_match_pytorch(core, tmp_path):
    model = get_method("refsam_clicks").example(core).eval()
    image = np.random.RandomState(1).randint(0, 256, (40, 64, 3), dtype=np.uint8)
    _, outputs, features = encoded(model, tmp_path, image)
    texts = ["the red circle", "a blue square", "the red circle"]
    clicks = torch.tensor([[[20.0, 12.0], [5.0, 30.0]], [[40.0, 20.0], [0.0, 0.0]], [[10.0, 10.0], [50.0, 35.0]]])
    labels = torch.tensor([[1, 0], [1, -1], [1, 1]])
    parts = row_parts(["text+click", "click", "text"])
    with torch.no_grad():
        want = model(features=features, text=texts, points=clicks, labels=labels, parts=parts)
    session = onnx_session(tmp_path / "text_prompt_decoder.onnx")
    input_frame = model.core.input_coords(clicks, features.original_sizes[0])     # the graph takes input-frame clicks
    masks, iou = session.run(None, {**outputs, **text_feed(model, texts), "point_coords": input_frame.numpy(),
                                    "point_labels": labels.numpy(), "parts": parts.numpy()})
    assert np.abs(masks - want.low_res_logits.numpy()).max() < 1e-4
    assert np.abs(iou - want.iou_predictions.numpy()).max() < 1e-4
