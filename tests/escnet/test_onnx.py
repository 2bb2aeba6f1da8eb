"""ESC-Net exported to ONNX (the whole model: it holds no SAM encoder), in ONNX Runtime against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.clip.models import load_clip
from samprompt.data import ShapesSemantic
from samprompt.errors import ExportError
from samprompt.escnet import ESCNet, ESCNetConfig
from samprompt.export import export_onnx, onnx_session
from tests.escnet_fixtures import CLASSES, SMALL

pytest.importorskip("onnxruntime")


def test_any_batch_size_and_class_list_match_pytorch(escnet, images, tmp_path):
    manifest = export_onnx(escnet, tmp_path)
    assert set(manifest["graphs"]) == {"escnet"} and manifest["preprocessing"] is None
    assert manifest["core"]["variant"] == "micro"
    session = onnx_session(tmp_path / "escnet.onnx")
    scenes = np.stack([ShapesSemantic("test", 2)[i]["image"][:60, :44] for i in range(2)])
    shapes = torch.from_numpy(scenes).permute(0, 3, 1, 2).float()
    for batch, names in ((images.float(), CLASSES), (shapes, CLASSES[:3])):
        with torch.no_grad():
            want = escnet(batch, names)
            text = escnet.clip.encode_classes(names)
        logits, correlation = session.run(None, {"images": batch.numpy(), "class_embeddings": text.numpy()})
        assert logits.shape == tuple(want.logits.shape) == (2, len(names), *batch.shape[-2:])
        assert np.abs(logits - want.logits.numpy()).max() < 1e-3
        assert np.abs(correlation - want.correlation.numpy()).max() < 1e-4
    with pytest.raises(ExportError, match="holds no SAM image encoder"):
        export_onnx(escnet, tmp_path / "again", parts=("encoder",))


def test_the_correlation_residual_exports(core, images, tmp_path):
    torch.manual_seed(1)
    model = ESCNet(core, load_clip(), ESCNetConfig(**SMALL, correlation_residual=True)).eval()
    with torch.no_grad():   # a trained-looking model: both the decoder and the residual count
        model.decoder.head.weight.normal_(0, 0.1)
        model.correlation_scale.fill_(7.0)
        want = model(images, CLASSES).logits
    export_onnx(model, tmp_path)
    logits, _ = onnx_session(tmp_path / "escnet.onnx").run(
        None, {"images": images.float().numpy(), "class_embeddings": model.clip.encode_classes(CLASSES).numpy()})
    assert np.abs(logits - want.numpy()).max() < 1e-3
