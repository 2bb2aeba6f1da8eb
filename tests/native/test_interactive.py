import numpy as np
import pytest
import torch

from samprompt import NativePrompts, PromptedSam
from samprompt.data.mask_prompts import error_click
from samprompt.errors import ConfigError
from samprompt.native.interactive import InteractiveTask, noisy_box
from samprompt.training.task import Step


def square(size=40, top=10, left=12, side=16) -> np.ndarray:
    mask = np.zeros((size, size + 8), bool)
    mask[top:top + side, left:left + side] = True
    return mask


def test_noisy_box_moves_each_corner_by_at_most_the_limit_and_stays_ordered_inside_the_image():
    mask = square()
    rng = np.random.default_rng(0)
    boxes = np.stack([noisy_box(mask, rng, fraction=2.0, max_noise=5.0) for _ in range(200)])
    truth = np.array([12, 10, 28, 26], np.float32)
    assert np.abs(boxes - truth).max() <= 5.0 + 1e-5
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
    assert boxes.min() >= 0 and (boxes[:, [0, 2]] <= 48).all() and (boxes[:, [1, 3]] <= 40).all()
    assert boxes.std(axis=0).min() > 1.0  # the noise is there


def test_error_clicks_are_uniform_over_the_error_region_and_labelled_by_the_truth():
    truth = square()
    predicted = np.roll(truth, 4, axis=1)  # misses 4 columns on the left, spills 4 on the right
    predicted[:, 30:] |= truth[:, 14:30].any(axis=1, keepdims=True) & (np.arange(48)[30:] < 34)  # 8 more spilled
    missed, spilled = truth & ~predicted, predicted & ~truth
    rng = np.random.default_rng(1)
    clicks = [error_click(truth, predicted, rng) for _ in range(3000)]
    for x, y, label in clicks:
        assert (missed if label == 1 else spilled)[int(y), int(x)]
    share = np.mean([label for _, _, label in clicks])
    assert share == pytest.approx(missed.sum() / (missed.sum() + spilled.sum()), abs=0.03)
    assert error_click(truth, truth.copy(), rng) is None


def test_two_silent_rounds_one_of_them_last():
    task = InteractiveTask(iterations=11)
    for seed in range(20):
        rounds = task.silent_rounds(Step(None, None, torch.Generator().manual_seed(seed)))
        assert len(rounds) == 2 and 10 in rounds and all(1 <= r <= 10 for r in rounds)
    assert InteractiveTask(iterations=1).silent_rounds(Step(None, None, torch.Generator())) == set()
    with pytest.raises(ConfigError, match="iterations"):
        InteractiveTask(iterations=0)


class Recorder:
    """A forward pass that records what each round was given."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, **inputs):
        prediction = self.model(**inputs)
        self.calls.append((inputs, prediction))
        return prediction


@pytest.mark.parametrize("box_probability", [0.0, 1.0])
def test_each_round_adds_an_error_click_and_feeds_the_previous_best_logits_back(core, box_probability):
    rng = np.random.default_rng(0)
    items = []
    for i in range(2):
        image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        items.append({"image": image, "mask": square(top=8 + 4 * i), "id": f"o{i}"})
    task = InteractiveTask(iterations=5, box_probability=box_probability)
    batch = task.collate([task.sample(item, np.random.default_rng(i)) for i, item in enumerate(items)])
    core.sam.mask_decoder.requires_grad_(True)
    model = PromptedSam(core, NativePrompts())
    recorder = Recorder(model)
    step = Step(model, recorder, torch.Generator().manual_seed(3))
    loss = task.batch_loss(step, batch)
    assert torch.isfinite(loss)
    assert len(recorder.calls) == 5
    first_inputs, _ = recorder.calls[0]
    assert "masks" not in first_inputs
    assert first_inputs["multimask_output"] == (box_probability == 0.0)
    assert ("boxes" in first_inputs) == (box_probability == 1.0)
    counts = [len(inputs["points"][0]) if "points" in inputs else 0 for inputs, _ in recorder.calls]
    assert counts[0] == (0 if box_probability == 1.0 else 1)
    growth = [b - a for a, b in zip(counts, counts[1:])]
    assert sorted(growth) == [0, 0, 1, 1] and growth[-1] == 0  # two silent rounds, the last one of them
    for r in range(1, 5):
        inputs, _ = recorder.calls[r]
        _, previous = recorder.calls[r - 1]
        best = previous.iou_predictions.argmax(dim=1)
        expected = previous.low_res_logits[torch.arange(2), best].unsqueeze(1)
        assert torch.equal(inputs["masks"], expected) and not inputs["masks"].requires_grad
        assert inputs["multimask_output"] is False
        if growth[r - 1]:  # the new click lies where the last mask was wrong, labelled by the truth
            for row in range(2):
                x, y = (int(v) for v in inputs["points"][row, -1].tolist())
                label = int(inputs["labels"][row, -1])
                wrong = (previous.logits[row][int(best[row])] > 0).numpy() != items[row]["mask"]
                assert label == -1 and not wrong.any() or wrong[y, x] and label == int(items[row]["mask"][y, x])
    loss.backward()
    assert core.sam.mask_decoder.iou_token.weight.grad is not None
