"""Run by test_distributed.py under torchrun: a few training steps, then each rank saves its weights."""
import sys
from pathlib import Path

from safetensors.torch import save_file

from samprompt.data import ShapesInteractive
from samprompt.native.task import NativeTask
from samprompt.training import FeatureCache, TrainConfig, Trainer
from tests.training.test_trainer import SMALL, make_model


def main(out: str) -> None:
    model = make_model()
    task = NativeTask(cache=FeatureCache(model.core))
    config = TrainConfig(steps=3, batch_size=2, lr=1e-2, progress=False)
    trainer = Trainer(model, task, ShapesInteractive("train", size=16, config=SMALL), config)
    state = trainer.accelerator.state
    result = trainer.fit()
    rank = trainer.accelerator.process_index
    weights = {n: p.detach().contiguous() for n, p in trainer.unwrapped.named_parameters() if p.requires_grad}
    save_file(weights, str(Path(out) / f"rank{rank}.safetensors"),
              metadata={"world": str(state.num_processes), "backend": str(state.backend),
                        "losses": ",".join(f"{x:.6f}" for x in result.losses)})


if __name__ == "__main__":
    main(sys.argv[1])
