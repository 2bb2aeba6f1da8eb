"""The class-name method: its training loss, its row choice, its two scores, save / load and the recipe."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import samprompt
from samprompt.classes.method import ClassPromptRecipe, class_prompted_sam
from samprompt.classes.task import ClassPromptTask, class_rows, evaluate_classes
from samprompt.data import ShapesSemantic
from samprompt.errors import ConfigError
from samprompt.methods.registry import get_method
from samprompt.recipes import Recipe
from samprompt.tuning import LoraSettings, add_lora

CLASSES = ("background", "circle", "square")


@pytest.fixture
def model(core):
    torch.manual_seed(0)
    add_lora(core, LoraSettings(targets=("decoder.attn",), rank=2))
    return class_prompted_sam(core, {"templates": ["a {}"], "pseudo": {"regions": 2}})


def items(count: int = 2) -> list[dict]:
    data = ShapesSemantic("train", count)
    return [data[i] for i in range(count)]


def test_rows_take_every_present_class_then_absent_ones_up_to_the_limit():
    labels = [np.array([[0, 2], [2, 255]]), np.array([[5, 5], [0, 0]])]
    rng = np.random.default_rng(0)
    assert class_rows(labels, 4, 10, rng) == [0, 1, 2, 3]                      # all classes fit
    chosen = class_rows(labels, 8, 5, rng)
    assert len(chosen) == 5 and {0, 2, 5} <= set(chosen) and 255 not in chosen
    assert len(class_rows(labels, 8, 2, rng)) == 2                              # more present than the limit


def test_loss_trains_the_generator_and_the_decoder_lora_and_ignores_the_void_label(model):
    task = ClassPromptTask(ShapesSemantic("train", 2).classes, classes_per_step=4)
    batch = items()
    loss = task.loss(model, batch)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads["generator.mask_logit"] is not None and any("lora" in n and g is not None for n, g in grads.items())
    # pixels labelled 255 are left out (the masked loss itself is tested in tests/training/test_losses.py)
    void = [dict(item, label=np.where(np.arange(item["label"].shape[1]) < 20, 255, item["label"]).astype(np.uint8))
            for item in batch]
    with torch.no_grad():
        left_out = task.loss(model, void)
        assert torch.isfinite(left_out) and not torch.allclose(left_out, task.loss(model, batch))


def test_a_few_steps_lower_the_loss(model):
    task = ClassPromptTask(ShapesSemantic("train", 2).classes, classes_per_step=4)
    batch = items()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = task.loss(model, batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_scores_read_the_masks_as_a_semantic_map_and_per_class(core):
    torch.manual_seed(0)
    model = class_prompted_sam(core, {"templates": ["a {}"]})
    label = np.zeros((32, 32), dtype=np.uint8)
    label[8:24, 8:24] = 1
    item = {"image": np.full((32, 32, 3), 128, np.uint8), "label": label}
    # a decoder forced to answer "the whole image" for every class: the map is class 0 everywhere
    with torch.no_grad():
        core.sam.mask_decoder.output_hypernetworks_mlps.apply(
            lambda m: isinstance(m, torch.nn.Linear) and (m.weight.zero_(), m.bias.zero_()))
    scores = evaluate_classes(model, [item], ["background", "circle"])
    assert scores["per_class_iou"]["background"] == pytest.approx((32 * 32 - 16 * 16) / (32 * 32))
    assert scores["mask_rows"] == 2 and 0.0 <= scores["mask_miou"] <= 1.0


def test_saved_model_loads_back_with_the_same_masks(model, tmp_path, rng):
    image = rng.randint(0, 256, (40, 48, 3), dtype=np.uint8)
    with torch.no_grad():
        model.generator.mask_logit.fill_(3.0)
        model.generator.class_token.weight.normal_()
        before = model([image], classes=list(CLASSES)).low_res_logits
    samprompt.save(model, tmp_path / "classes")
    torch.manual_seed(0)
    loaded = samprompt.load(tmp_path / "classes", core=samprompt.build_sam("micro"))   # the same random core
    assert get_method("classes").handles(loaded)
    assert loaded.generator.clip.templates == ("a {}",) and loaded.generator.settings.regions == 2
    with torch.no_grad():
        assert torch.allclose(loaded([image], classes=list(CLASSES)).low_res_logits, before, atol=1e-5)


def test_recipe_validates_its_options_and_builds_a_training_setup():
    with pytest.raises(ConfigError, match="classes_per_step"):
        ClassPromptRecipe(classes_per_step=0)
    with pytest.raises(ConfigError):
        ClassPromptRecipe(pseudo={"threshold": 2.0})
    recipe = Recipe.from_dict({"method": "classes", "variant": "micro", "data": {"dataset": "shapes", "size": 4},
                               "eval_items": 2, "lora": {"targets": ["decoder.attn"], "rank": 2},
                               "pseudo": {"regions": 2}, "train": {"steps": 1, "batch_size": 2}})
    core = samprompt.build_sam("micro")
    add_lora(core, recipe.lora)
    setup = recipe.spec.training(recipe, core)
    assert setup.task.classes == setup.dataset.classes and setup.model.generator.settings.regions == 2
    scores = setup.evaluate(setup.model)
    assert {"miou", "mask_miou", "per_class_iou"} <= set(scores)
