from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.escnet.task import ESCNetTask, correlation_predictor, evaluate_semantic, model_predictor, resize_item
from tests.escnet_fixtures import CLASSES


def item(rng: np.random.Generator, size: tuple[int, int], classes: int) -> dict:
    label = rng.integers(0, classes, size).astype(np.uint8)
    label[0, 0] = 255
    return {"image": rng.integers(0, 256, size + (3,), dtype=np.uint8), "label": label, "id": "x"}


def test_loss_is_cross_entropy_that_ignores_255(escnet):
    rng = np.random.default_rng(0)
    items = [item(rng, (40, 48), 5), item(rng, (40, 48), 5)]
    escnet.train()
    loss = ESCNetTask(CLASSES).loss(escnet, items)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert escnet.image_proj.weight.grad is not None
    resized = ESCNetTask(CLASSES, size=32).loss(escnet, [item(rng, (30, 50), 5), item(rng, (40, 40), 5)])
    assert torch.isfinite(resized)


def test_resize_keeps_label_values():
    rng = np.random.default_rng(1)
    image, label = resize_item(item(rng, (30, 50), 4), 16)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8 and label.shape == (16, 16)
    assert set(np.unique(label)) <= {0, 1, 2, 3, 255}


def test_evaluation_of_a_perfect_predictor_scores_one_and_streams_mixed_sizes():
    rng = np.random.default_rng(2)
    items = [item(rng, (6, 7), 3), item(rng, (6, 7), 3), item(rng, (5, 9), 3), item(rng, (6, 7), 3)]
    by_image = {it["image"].tobytes(): it["label"] for it in items}
    batches = []

    def perfect(images: torch.Tensor, classes) -> torch.Tensor:
        batches.append(images.shape[0])
        labels = [by_image[img.permute(1, 2, 0).numpy().tobytes()] for img in images]
        onehot = torch.stack([torch.nn.functional.one_hot(torch.from_numpy(np.where(lab == 255, 0, lab)).long(), 3)
                              for lab in labels])
        return onehot.permute(0, 3, 1, 2).float()

    summary = evaluate_semantic(perfect, iter(items), ["a", "b", "c"], batch_size=2).summary()
    assert summary["miou"] == pytest.approx(1.0) and summary["pixel_accuracy"] == pytest.approx(1.0)
    assert batches == [2, 1, 1]


def test_model_and_baseline_predictors_give_class_logits(escnet, images):
    assert model_predictor(escnet)(images, CLASSES).shape == (2, 5, 40, 56)
    assert model_predictor(escnet, window=32)(images, CLASSES).shape == (2, 5, 40, 56)
    baseline = correlation_predictor(escnet)(images, CLASSES)
    assert baseline.shape == (2, 5, 40, 56)
    expected = torch.nn.functional.interpolate(escnet(images, CLASSES).correlation, size=(40, 56), mode="bilinear")
    assert torch.allclose(baseline, expected, atol=1e-5)
