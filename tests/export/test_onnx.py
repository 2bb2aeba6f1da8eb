"""ONNX export: ONNX Runtime against PyTorch and against segment-anything's own prompt encoder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import samprompt
from samprompt.errors import ConfigError, ExportError
from samprompt.export import export_onnx, onnx_session
from samprompt.export.graphs import PromptDecoderGraph
from samprompt.methods import get_method
from samprompt.tuning.lora import add_lora
from samprompt.tuning.settings import LoraSettings


def decoder_feed(core: samprompt.SamCore, embedding: torch.Tensor, coords: torch.Tensor, labels: torch.Tensor,
                 mask: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    rows = coords.shape[0]
    h, w = core.mask_input_size
    return {"image_embeddings": embedding.numpy(), "point_coords": coords.numpy().astype(np.float32),
            "point_labels": labels.numpy().astype(np.float32),
            "mask_input": (mask if mask is not None else torch.zeros(rows, 1, h, w)).numpy(),
            "has_mask_input": np.full(rows, 1.0 if mask is not None else 0.0, np.float32)}


def sam_reference(core: samprompt.SamCore, embedding: torch.Tensor, sparse: torch.Tensor,
                  mask: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """segment-anything's own mask decoder on the given tokens (one image, every row)."""
    encoder = core.sam.prompt_encoder
    dense = encoder.mask_downscaling(mask) if mask is not None else \
        encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(len(sparse), -1, *core.embedding_size)
    masks, iou = core.sam.mask_decoder(image_embeddings=embedding, image_pe=encoder.get_dense_pe(),
                                       sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                       multimask_output=True)
    return masks.numpy(), iou.numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[samprompt.SamCore, dict, object, object]:
    core = samprompt.build_sam("tiny", fast_attention=False)
    out = tmp_path_factory.mktemp("onnx")
    manifest = export_onnx(core, out)
    return core, manifest, onnx_session(out / "encoder.onnx"), onnx_session(out / "prompt_decoder.onnx")


def test_encoder_and_clicks_boxes_masks_match_segment_anything(exported) -> None:
    core, manifest, encoder, decoder = exported
    image = np.random.RandomState(0).randint(0, 256, (96, 128, 3), dtype=np.uint8)
    batch, _, _ = core.preprocess([image])
    with torch.no_grad():
        embedding = core.sam.image_encoder(batch)
        assert np.abs(encoder.run(None, {"images": batch.numpy()})[0] - embedding.numpy()).max() < 1e-4
        encoder_module = core.sam.prompt_encoder
        # clicks: 4 rows of 2 clicks and segment-anything's padding point
        coords = torch.rand(4, 2, 2) * 100
        labels = torch.tensor([[1, 0], [1, 1], [0, 1], [1, 0]])
        sparse, _ = encoder_module(points=(coords, labels), boxes=None, masks=None)
        padding = -torch.ones(4, 1, dtype=torch.long)
        padded = torch.cat([coords, torch.zeros(4, 1, 2)], 1), torch.cat([labels, padding], 1)
        ours = decoder.run(None, decoder_feed(core, embedding, *padded))
        for got, want in zip(ours, sam_reference(core, embedding, sparse)):
            assert np.abs(got - want).max() < 1e-4
        # boxes as corners labelled 2 and 3, after a click, with a mask prompt
        boxes = torch.tensor([[10.0, 20.0, 60.0, 70.0], [0.0, 5.0, 120.0, 90.0]])
        clicks = torch.tensor([[[30.0, 40.0]], [[50.0, 50.0]]])
        mask = torch.randn(2, 1, *core.mask_input_size)
        sparse, _ = encoder_module(points=(clicks, torch.ones(2, 1, dtype=torch.long)), boxes=boxes, masks=None)
        coords = torch.cat([clicks, boxes.reshape(2, 2, 2)], 1)
        labels = torch.tensor([[1, 2, 3], [1, 2, 3]])
        ours = decoder.run(None, decoder_feed(core, embedding, coords, labels, mask))
        for got, want in zip(ours, sam_reference(core, embedding, sparse, mask)):
            assert np.abs(got - want).max() < 1e-4
    graphs = manifest["graphs"]
    assert graphs["prompt_decoder"]["dynamic_axes"]["point_coords"] == {"0": "rows", "1": "points"}
    assert all(v <= manifest["tolerance"] for g in graphs.values()
               for check in g["largest_difference_to_pytorch"].values() for v in check.values())


def test_lora_is_merged_and_the_model_left_unchanged(tmp_path) -> None:
    core = samprompt.build_sam("micro", seed=0)
    add_lora(core, LoraSettings(targets=("encoder.qkv", "decoder.attn"), rank=2))
    with torch.no_grad():
        for name, parameter in core.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)            # a trained-looking adapter, not the zero init
    model = samprompt.get_method("native").untrained(core)
    before = {k: v.clone() for k, v in core.state_dict().items()}
    manifest = export_onnx(model, tmp_path)
    assert manifest["method"] == "native"
    assert all(torch.equal(before[k], v) for k, v in core.state_dict().items())      # the exporter worked on a copy
    image = np.random.RandomState(1).randint(0, 256, (64, 64, 3), dtype=np.uint8)
    batch, _, _ = core.preprocess([image])
    with torch.no_grad():
        tuned = core.sam.image_encoder(batch).numpy()
    exported = onnx_session(tmp_path / "encoder.onnx").run(None, {"images": batch.numpy()})[0]
    assert np.abs(exported - tuned).max() < 1e-4
    with torch.no_grad():
        from samprompt.tuning.lora import use_lora
        use_lora(core, None)
        plain = core.sam.image_encoder(batch).numpy()
    assert np.abs(exported - plain).max() > 1e-2       # the adapter is in the exported weights


def test_single_mask_and_rows_of_any_count(tmp_path) -> None:
    core = samprompt.build_sam("micro", seed=0)
    export_onnx(core, tmp_path, parts=("prompt_decoder",), multimask_output=False)
    session = onnx_session(tmp_path / "prompt_decoder.onnx")
    graph = PromptDecoderGraph(core, multimask_output=False).eval()
    embedding = torch.randn(1, core.prompt_dim, *core.embedding_size)
    for rows, points in ((1, 1), (7, 5), (30, 2)):
        coords = torch.rand(rows, points, 2) * core.image_size
        labels = torch.randint(-1, 4, (rows, points))
        masks, iou = session.run(None, decoder_feed(core, embedding, coords, labels))
        assert masks.shape == (rows, 1, *core.mask_input_size) and iou.shape == (rows, 1)
        with torch.no_grad():
            want = graph(embedding, coords, labels.float(), torch.zeros(rows, 1, *core.mask_input_size),
                         torch.zeros(rows))
        assert np.abs(masks - want[0].numpy()).max() < 1e-4


def test_export_errors(tmp_path, core) -> None:
    with pytest.raises(ConfigError, match="parts"):
        export_onnx(core, tmp_path, parts=("decoder",))
    with pytest.raises(ConfigError, match="tolerance"):
        export_onnx(core, tmp_path, tolerance=0)
    with pytest.raises(ExportError, match="registered method"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path)
    with pytest.raises(ExportError, match="prompt decoder takes clicks, boxes and masks"):
        export_onnx(core, tmp_path, text=["the red circle"])
    assert not (tmp_path / "manifest.json").exists()


def test_export_cli(tmp_path, capsys) -> None:
    from samprompt.cli import main

    assert main(["export", "--variant", "micro", "--out", str(tmp_path)]) == 0
    assert "largest difference to PyTorch" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["graphs"]) == {"encoder", "prompt_decoder"}
    assert manifest["preprocessing"]["resize_longest_side"] == 64


def test_samref_exports_its_refiners_and_they_answer_as_in_pytorch(tmp_path, core) -> None:
    from samprompt.samref.click_maps import click_maps

    model = get_method("samref").example(core).eval()
    manifest = export_onnx(model, tmp_path, parts=("prompt_decoder",))
    assert set(manifest["graphs"]) == {"prompt_decoder", "refiner_global", "refiner_local"}
    image = np.random.RandomState(2).randint(0, 256, (48, 64, 3), dtype=np.uint8)
    points, labels = torch.tensor([[[20.0, 16.0], [8.0, 8.0]]]), torch.tensor([[1, 0]])
    refiner = model.refiner
    with torch.no_grad():
        refined = model([image], points=points, labels=labels)
        features = core.encode([image], keep_intermediate=False, keep_images=True)
        index = torch.zeros(1, dtype=torch.long)
        frame = refiner.global_size
        clicks = click_maps(refiner.frame_points(core, features, points, index), labels, (frame, frame),
                            refiner.config.click_radius)
        feed = {"image": refiner._images(features, index).numpy(), "clicks": clicks.numpy(),
                "coarse_logits": refined.coarse_logits.numpy(), "embedding": features.embeddings.numpy()}
    error, refined_logits, blended = onnx_session(tmp_path / "refiner_global.onnx").run(None, feed)
    assert np.abs(blended - refined.global_output.blended.numpy()).max() < 1e-4
    assert np.abs(error - refined.global_output.error.numpy()).max() < 1e-4


def test_export_cli_writes_precomputed_class_embeddings_and_refuses_text(tmp_path, capsys):
    from samprompt.cli import main

    core = samprompt.build_sam("micro", seed=0)
    model = get_method("classes").example(core)
    samprompt.save(model, tmp_path / "weights")
    names = ["background", "circle", "square", "star"]
    assert main(["export", "--variant", "micro", "--weights", str(tmp_path / "weights"), "--classes", *names,
                 "--out", str(tmp_path / "onnx")]) == 0
    assert "prompt_inputs.npz (class_embeddings 4x" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "onnx" / "manifest.json").read_text())
    assert set(manifest["graphs"]) == {"encoder", "class_prompt_decoder"}
    assert manifest["prompt_inputs"]["classes"] == names
    with np.load(tmp_path / "onnx" / "prompt_inputs.npz", allow_pickle=False) as saved:
        with torch.no_grad():
            want = model.generator.clip.encode_classes(names).numpy()
        assert np.abs(saved["class_embeddings"] - want).max() < 1e-6
    assert main(["export", "--variant", "micro", "--weights", str(tmp_path / "weights"), "--text", "a red circle",
                 "--out", str(tmp_path / "other")]) == 2
    assert "takes class names (classes), not text" in capsys.readouterr().err
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())    # refused before any work
