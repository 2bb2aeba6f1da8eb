import numpy as np
import pytest
import torch

from samprompt.data import ShapesConfig, ShapesInteractive
from samprompt.interactive import compare_refiner, evaluate_interactive
from samprompt.samref import SAMRef, SAMRefConfig
from samprompt.samref.task import SAMRefTask, error_targets
from samprompt.training import FeatureCache, TrainConfig, Trainer

WORLD = ShapesConfig(image_size=64, max_objects=3)


def test_error_targets():
    coarse = torch.tensor([[2.0, -1.0], [0.5, -3.0]])
    targets = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert error_targets(coarse, targets).tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_training_moves_only_the_refiner_and_encodes_each_image_once(core):
    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1, click_radius=2.0))
    frozen = {k: v.clone() for k, v in core.state_dict().items()}
    before = {k: v.clone() for k, v in model.refiner.state_dict().items()}
    cache = FeatureCache(core, keep_intermediate=False, keep_images=True)
    task = SAMRefTask(cache=cache, max_extra_clicks=2)
    data = ShapesInteractive("train", 3, WORLD)
    result = Trainer(model, task, data, TrainConfig(steps=3, batch_size=2, lr=1e-3, progress=False)).fit()
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert all(torch.equal(v, core.state_dict()[k].cpu()) for k, v in frozen.items())
    assert any(not torch.equal(v, model.refiner.state_dict()[k].cpu()) for k, v in before.items())
    assert cache.misses <= 3 and cache.hits >= 3


def test_protocol_on_the_same_clicks_reproduces_sam_inside_the_refined_run(core):
    """Replaying SAM's clicks through SAM-REF: SAM's own masks there are exactly those of SAM alone,
    because SAM is fed back its own logits; only the refined result may differ."""
    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1, click_radius=2.0)).eval()
    items = [ShapesInteractive("val", 2, WORLD)[i] for i in range(2)]
    sam, runs = evaluate_interactive(model, items, refine=False, max_clicks=4)
    refined, replayed = evaluate_interactive(model, items, refine=True, max_clicks=4, replay=runs)
    for alone, again in zip(runs, replayed):
        assert again.clicks == alone.clicks
        assert again.sam_ious == alone.ious
        assert all(s > 0 for s in again.refiner_seconds)
    assert sam["seconds_per_click"]["refiner"] == 0.0 and refined["seconds_per_click"]["refiner"] > 0
    assert set(sam) >= {"NoC@85", "NoC@90", "NoC@95", "NoF@90", "5-mIoU", "miou_per_click"}


def _counted_comparison_setup(core, count: int) -> tuple[SAMRef, list[dict], list[int]]:
    """A small SAM-REF, `count` held-out objects and a counter of encoder passes."""
    torch.manual_seed(0)
    model = SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1, click_radius=2.0)).eval()
    items = [ShapesInteractive("val", count, WORLD)[i] for i in range(count)]
    calls = [0]
    core.sam.image_encoder.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return model, items, calls


def test_comparison_encodes_each_image_once_and_matches_separate_runs(core):
    model, items, calls = _counted_comparison_setup(core, 2)
    compared = compare_refiner(model, items, max_clicks=4)
    assert calls[0] == len(items)
    _, sam_runs = evaluate_interactive(model, items, refine=False, max_clicks=4)
    _, refined_runs = evaluate_interactive(model, items, refine=True, max_clicks=4)
    _, replayed_runs = evaluate_interactive(model, items, refine=True, max_clicks=4, replay=sam_runs)
    pairs = (("sam_alone", sam_runs), ("refined", refined_runs), ("refined_on_sam_clicks", replayed_runs))
    for name, separate in pairs:
        summary, runs = compared[name]
        assert [r.clicks for r in runs] == [r.clicks for r in separate]
        assert [r.ious for r in runs] == [r.ious for r in separate]
        assert summary["objects"] == 2
    assert set(compare_refiner(model, items, max_clicks=2, same_clicks=False)) == {"sam_alone", "refined"}


def test_a_session_without_images_cannot_switch_the_refiner_on(core):
    model = SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1))
    item = ShapesInteractive("val", 1, WORLD)[0]
    session = model.session(item["image"], refine=False)
    with pytest.raises(ValueError, match="cannot refine"):
        session.use_refiner(True)
    session = model.session(item["image"])
    session.click(10, 10)
    session.use_refiner(False)
    assert session.refiner is None and not session.steps


def test_the_comparison_in_lockstep_gives_the_clicks_and_ious_of_one_object_at_a_time(core):
    model, items, calls = _counted_comparison_setup(core, 5)
    lockstep = compare_refiner(model, items, max_clicks=4, batch_size=3)
    assert calls[0] == 2                                    # 5 objects in batches of 3
    one_by_one = compare_refiner(model, items, max_clicks=4)
    for name, (summary, runs) in one_by_one.items():
        batched_summary, batched = lockstep[name]
        assert [r.clicks for r in batched] == [r.clicks for r in runs]
        assert all(np.allclose(a.ious, b.ious, atol=1e-6) for a, b in zip(batched, runs))
        assert batched_summary["NoC@85"] == summary["NoC@85"]
