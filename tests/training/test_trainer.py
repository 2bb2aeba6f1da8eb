import pytest
import torch

import samprompt
from samprompt import NativePrompts, PromptedSam
from samprompt.data import ShapesConfig, ShapesInteractive
from samprompt.errors import ConfigError
from samprompt.native.task import NativeTask
from samprompt.training import FeatureCache, TrainConfig, Trainer, parameter_groups
from samprompt.tuning import LoraSettings, add_lora

SMALL = ShapesConfig(image_size=64, max_objects=3)


def make_model(seed: int = 0) -> PromptedSam:
    torch.manual_seed(seed)
    core = samprompt.build_sam("micro")
    add_lora(core, LoraSettings(targets=("decoder.attn", "decoder.mlp"), rank=4, alpha=8))
    return PromptedSam(core, NativePrompts())


def make_trainer(tmp_path=None, steps=6, seed=0, box_probability=0.5, **overrides):
    model = make_model()
    task = NativeTask(cache=FeatureCache(model.core), box_probability=box_probability)
    config = TrainConfig(steps=steps, batch_size=4, lr=1e-2, seed=seed, progress=False,
                         output_dir=None if tmp_path is None else str(tmp_path), **overrides)
    return Trainer(model, task, ShapesInteractive("train", size=16, config=SMALL), config), task


def test_short_training_run_lowers_the_loss():
    trainer, task = make_trainer(steps=40, box_probability=1.0)
    result = trainer.fit()
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 0.8 * first
    assert task.cache.hits > 0 and len(task.cache) <= 16  # frozen encoder: each image encoded once


def test_resumed_run_continues_the_same_loss_curve(tmp_path):
    straight, _ = make_trainer(steps=6)
    reference = straight.fit().losses
    interrupted, _ = make_trainer(tmp_path, steps=6)
    interrupted.fit(until=3)
    resumed, _ = make_trainer(tmp_path, steps=6)
    result = resumed.fit()
    assert result.resumed_from == 3
    assert result.losses == pytest.approx(reference, rel=1e-4, abs=1e-5)
    lora = {n: p for n, p in resumed.unwrapped.named_parameters() if "lora_" in n}
    expected = {n: p for n, p in straight.unwrapped.named_parameters() if "lora_" in n}
    for name in lora:
        torch.testing.assert_close(lora[name], expected[name], atol=1e-5, rtol=1e-4)


def test_checkpoint_contains_only_trained_tensors(tmp_path):
    trainer, _ = make_trainer(tmp_path, steps=2)
    trainer.fit()
    names = (tmp_path / "checkpoint" / "model" / "adapter_config.json").read_text()
    assert "lora_A" in names and "base_layer" not in names
    assert (tmp_path / "checkpoint" / "trainer_state.pt").is_file()


def test_gradient_accumulation_and_bf16_autocast_run():
    trainer, _ = make_trainer(steps=2, grad_accum=2, mixed_precision="bf16")
    assert len(trainer.fit().losses) == 2


def test_per_module_learning_rates():
    model = make_model()
    groups = parameter_groups(model, 1e-3, {"core.sam.mask_decoder.transformer.layers.0": 1e-5}, 0.0)
    rates = sorted(g["lr"] for g in groups)
    assert rates == [1e-5, 1e-3]
    with pytest.raises(ConfigError, match="match no parameter"):
        parameter_groups(model, 1e-3, {"generator.nothing": 1e-4}, 0.0)


def test_train_config_validates():
    with pytest.raises(ConfigError, match="steps must be positive"):
        TrainConfig(steps=0)
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")
    with pytest.raises(ConfigError, match="unknown training options"):
        TrainConfig.from_dict({"stepz": 3})


class CountingTask(NativeTask):
    """NativeTask that records which process sampled each item and what the loss saw."""

    def sample(self, item, rng):
        import os

        return {**super().sample(item, rng), "pid": os.getpid()}

    def collate(self, samples):
        batch = super().collate(samples)
        batch.pids = {s["pid"] for s in samples}
        return batch

    def batch_loss(self, step, batch):
        assert step.model is step.forward or getattr(step.forward, "module", None) is step.model
        self.seen.append((step.index, batch.ids, sorted(batch.pids)))
        return super().batch_loss(step, batch)


def test_batches_are_sampled_in_dataloader_workers_and_do_not_depend_on_them():
    import os

    runs = {}
    for workers in (0, 2):
        model = make_model()
        task = CountingTask(cache=FeatureCache(model.core))
        task.seen = []
        config = TrainConfig(steps=3, batch_size=3, lr=1e-2, progress=False, num_workers=workers)
        runs[workers] = (Trainer(model, task, ShapesInteractive("train", size=16, config=SMALL), config).fit().losses,
                         task.seen)
    assert runs[0][0] == pytest.approx(runs[2][0], rel=1e-6, abs=1e-7)
    assert [ids for _, ids, _ in runs[0][1]] == [ids for _, ids, _ in runs[2][1]]
    assert all(pids == [os.getpid()] for _, _, pids in runs[0][1])
    assert all(os.getpid() not in pids for _, _, pids in runs[2][1]), "workers=2 must sample off the main process"
    assert [index for index, _, _ in runs[2][1]] == [0, 1, 2]


def test_a_plain_loss_function_still_trains():
    model = make_model()
    task = NativeTask()

    def loss(forward, items):
        return task.loss(model, items)  # the same loss, computed in the training process from raw items

    config = TrainConfig(steps=2, batch_size=2, progress=False)
    result = Trainer(model, loss, ShapesInteractive("train", size=8, config=SMALL), config).fit()
    assert len(result.losses) == 2 and all(torch.isfinite(torch.tensor(result.losses)))


def test_trainers_in_one_process_each_get_their_own_precision():
    """accelerate refuses a second precision in one process; each Trainer starts from its own config."""
    bf16, _ = make_trainer(steps=1, mixed_precision="bf16", cpu=True)
    assert bf16.accelerator.mixed_precision == "bf16"
    plain, _ = make_trainer(steps=1, cpu=True)
    assert plain.accelerator.mixed_precision == "no"
    assert all(torch.isfinite(torch.tensor(plain.fit().losses)))
