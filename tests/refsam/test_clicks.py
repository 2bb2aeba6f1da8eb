"""Text and a click in one prompt (`RefSAMWithClicks`): each kind alone equals its part, training drops parts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import samprompt
from samprompt.data import ShapesReferring
from samprompt.errors import ConfigError, PromptError
from samprompt.prompts import NativePrompts
from samprompt.recipes import Recipe
from samprompt.refsam import RefSAM, RefSAMConfig
from samprompt.refsam.clicks import RefSAMWithClicks, TextClickTask, row_parts
from samprompt.refsam.method import RefSAMClicksRecipe

CONFIG = RefSAMConfig(adapters=None, tracking=False)


@pytest.fixture
def model(core, text_encoder) -> RefSAMWithClicks:
    torch.manual_seed(0)
    return RefSAMWithClicks(core, text_encoder, CONFIG).eval()


def test_text_alone_is_refsam_and_a_click_alone_is_sam(core, text_encoder, model, image):
    torch.manual_seed(0)
    refsam = RefSAM(core, text_encoder, CONFIG).eval()
    refsam.generator.load_state_dict(model.text_prompt.state_dict())
    points, labels = torch.tensor([[[20.0, 15.0]]]), torch.ones(1, 1, dtype=torch.int)
    with torch.no_grad():
        text = model([image], text=["the red circle"]).low_res_logits
        click = model([image], points=points, labels=labels).low_res_logits
        both = model([image], text=["the red circle"], points=points, labels=labels).low_res_logits
        torch.testing.assert_close(text, refsam([image], text=["the red circle"]).low_res_logits)
        sam = samprompt.PromptedSam(core, NativePrompts())([image], points=points, labels=labels,
                                                           multimask_output=False)
        torch.testing.assert_close(click, sam.low_res_logits)
    assert not torch.allclose(both, text, atol=1e-4) and not torch.allclose(both, click, atol=1e-4)
    with pytest.raises(PromptError, match="no prompt given"):
        model([image])


def test_rows_of_every_kind_in_one_batch_equal_each_kind_alone(model, image):
    texts = ["the red circle", "a blue square", "the star"]
    points = torch.tensor([[[20.0, 15.0]], [[5.0, 30.0]], [[40.0, 8.0]]])
    labels = torch.ones(3, 1, dtype=torch.int)
    with torch.no_grad():
        mixed = model([image], text=texts, points=points, labels=labels,
                      parts=row_parts(["text+click", "text", "click"])).low_res_logits
        both = model([image], text=texts, points=points, labels=labels).low_res_logits
        text = model([image], text=texts).low_res_logits
        click = model([image], points=points, labels=labels).low_res_logits
    torch.testing.assert_close(mixed, torch.stack([both[0], text[1], click[2]]), atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match="row kinds"):
        row_parts(["text", "box"])


def test_training_draws_every_kind_and_never_an_empty_row():
    task = TextClickTask(text_drop=0.2, click_drop=0.4)
    parts = task.draw_parts(4000, torch.Generator().manual_seed(0))
    assert bool(parts.any(dim=1).all())
    shares = [float((parts == torch.tensor(kind)).all(dim=1).float().mean())
              for kind in ((False, True), (True, False), (True, True))]   # click only, text only, both
    assert all(abs(share - want) < 0.03 for share, want in zip(shares, (0.2, 0.4, 0.4)))
    assert bool(TextClickTask(text_drop=0.0, click_drop=0.0).draw_parts(50, torch.Generator()).all())
    with pytest.raises(ConfigError, match="text_drop"):
        TextClickTask(text_drop=0.6, click_drop=0.6)
    with pytest.raises(ConfigError, match="single_prompt_share"):
        TextClickTask(single_prompt_share=1.5)


def test_wrong_text_gives_rows_with_a_click_another_rows_expression():
    texts = ["the red circle", "a blue square", "the green star", "a ring"]
    parts = row_parts(["text+click", "text", "click", "text+click"])
    generator = torch.Generator().manual_seed(0)
    assert TextClickTask(wrong_text=1.0).training_texts(texts, parts, generator) == \
        ["a blue square", "a blue square", "the green star", "the red circle"]      # only text + click rows
    assert TextClickTask(wrong_text=0.0).training_texts(texts, parts, generator) == texts
    swapped = TextClickTask(wrong_text=0.3).training_texts(texts * 500, row_parts(["text+click"] * 2000), generator)
    assert abs(sum(a != b for a, b in zip(swapped, texts * 500)) / 2000 - 0.3) < 0.03
    with pytest.raises(ConfigError, match="wrong_text must be in"):
        TextClickTask(wrong_text=-0.1)


def test_loss_trains_the_text_prompt_and_scores_every_kind(model):
    items = [ShapesReferring("train", 4)[i] for i in range(4)]
    task = TextClickTask()
    model.train()
    loss = task.loss(model, items)
    loss.backward()
    assert any(p.grad is not None for p in model.text_prompt.parameters() if p.requires_grad)
    scores = task.evaluate_kinds(model, items[:3])
    assert set(scores) == {"text", "click", "text+click"} and all(0 <= s["miou"] <= 1 for s in scores.values())


def test_one_click_through_sam_is_scored_alone_and_with_the_text_choosing_its_mask(core, model):
    from samprompt.data.mask_prompts import random_click
    from samprompt.interactive import InteractiveSession
    from samprompt.metrics.masks import binary_mask_iou
    from samprompt.model import BASE_CORE, PromptedSam
    from samprompt.refsam.clicks import evaluation_clicks

    items = [ShapesReferring("val", 3)[i] for i in range(3)]
    rng = np.random.default_rng(4)
    drawn = evaluation_clicks(items, 4)
    assert all(np.array_equal(a, random_click(item["mask"], rng)) for a, item in zip(drawn, items))
    sam = PromptedSam(core, NativePrompts())
    sam.adapter = BASE_CORE
    chosen = TextClickTask().evaluate_sam_click(sam, items, seed=4, chooser=model)
    alone = TextClickTask().evaluate_sam_click(sam, items, seed=4)
    expected_chosen, expected_alone = [], []
    for item, (x, y) in zip(items, evaluation_clicks(items, 4)):
        session = InteractiveSession(sam, item["image"], start_with=model, start_inputs={"text": [item["text"]]},
                                     start_role="choice")
        expected_chosen.append(binary_mask_iou(session.click(x, y), item["mask"]))
        expected_alone.append(binary_mask_iou(sam.session(item["image"]).click(x, y), item["mask"]))
    assert chosen["miou"] == pytest.approx(np.mean(expected_chosen))
    assert alone["miou"] == pytest.approx(np.mean(expected_alone))


def test_recipe_turns_tracking_off_and_the_method_round_trips(core, text_encoder, model, image, tmp_path):
    assert RefSAMClicksRecipe().resolve(None, None).tracking is False
    with pytest.raises(ConfigError, match="tracking=False"):
        RefSAMWithClicks(core, text_encoder, RefSAMConfig(adapters=None))
    recipe = Recipe.from_dict({"method": "refsam_clicks", "variant": "micro", "eval_items": 2,
                               "data": {"dataset": "shapes", "size": 4, "videos": 0},
                               "train": {"steps": 1, "batch_size": 2}, "wrong_text": 0.25})
    assert recipe.options.task().click_drop == pytest.approx(0.4)
    assert recipe.options.task().wrong_text == pytest.approx(0.25)
    with pytest.raises(ConfigError, match="wrong_text"):
        RefSAMClicksRecipe(wrong_text=2.0)
    with torch.no_grad():
        for parameter in model.text_prompt.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
        before = model([image], text=["the red circle"], points=torch.tensor([[[20.0, 15.0]]]),
                       labels=torch.ones(1, 1, dtype=torch.int)).low_res_logits
    samprompt.save(model, tmp_path / "tc")
    torch.manual_seed(0)
    loaded = samprompt.load(tmp_path / "tc", core=samprompt.build_sam("micro"), text_encoder=text_encoder)
    assert type(loaded) is RefSAMWithClicks
    with torch.no_grad():
        after = loaded([image], text=["the red circle"], points=torch.tensor([[[20.0, 15.0]]]),
                       labels=torch.ones(1, 1, dtype=torch.int)).low_res_logits
    torch.testing.assert_close(after, before)
    assert np.isfinite(after.numpy()).all()


def test_rounds_add_error_clicks_feed_logits_back_and_keep_the_text(model):
    from samprompt.refsam.clicks import click_inputs
    from samprompt.training.task import Step

    items = [ShapesReferring("train", 6)[i] for i in range(6)]
    task = TextClickTask(iterations=3, single_prompt_share=0.0)
    calls = []

    def recording(**inputs):
        calls.append(inputs)
        return model(**inputs)

    samples = [task.sample(item, np.random.default_rng(i)) for i, item in enumerate(items)]
    task.batch_loss(Step(model, recording, torch.Generator().manual_seed(1)), task.collate(samples))
    assert len(calls) == 3 and "masks" not in calls[0] and all("masks" in call for call in calls[1:])
    first = calls[0]["parts"]
    clicks = [(~call["point_padding"]).sum(dim=1) if "point_padding" in call else torch.zeros(6, dtype=torch.long)
              for call in calls]
    assert torch.equal(clicks[0], first[:, 1].long())                       # round 0: one click or none
    assert bool((clicks[2] >= clicks[1]).all()) and bool((clicks[1] > clicks[0]).any())
    assert all(bool((call["parts"][:, 0] >= first[:, 0]).all()) for call in calls)   # text stays once given
    assert click_inputs([[], []]) == {}
    padded = click_inputs([[(1.0, 2.0, 1)], [(3.0, 4.0, 0), (5.0, 6.0, 1)]])
    assert padded["labels"].tolist() == [[1, -1], [0, 1]] and padded["point_padding"].tolist() == [[False, True],
                                                                                                  [False, False]]
