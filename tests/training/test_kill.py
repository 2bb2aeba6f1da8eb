"""A training process killed at any instant of a checkpoint write loses nothing it had saved,
and one whose disk refuses a write says so in one line and keeps the checkpoint it had.

The child below is a real training run (micro core, LoRA, checkpoint after every step) that
SIGKILLs itself just before its N-th file-system event of the checkpoint writer (a file or
folder fsync, a rename, the removal of the retired checkpoint), in each phase of a write,
including the instant between its two renames. The parent then resumes in this process.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samprompt.training.trainer import CHECKPOINT_DIR, STATE_FILE
from samprompt.utils.files import atomic_directory, recover_leftovers
from tests.training.test_trainer import make_trainer

ROOT = Path(__file__).resolve().parents[2]
STEPS = 3
CHILD = r"""
import os, shutil, signal, sys, types
import samprompt.utils.files as files

die_at, events = int(sys.argv[2]), []

def dying(name, function):
    def wrapper(*args, **kwargs):
        events.append(name)
        if len(events) == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return wrapper

files.os = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
files.os.replace = lambda source, target: dying(
    "retire" if ".old-" in str(target) else "rename:" + os.path.basename(target), os.replace)(source, target)
files.os.fsync = dying("fsync", os.fsync)
files.shutil = types.SimpleNamespace(rmtree=dying("rmtree", shutil.rmtree))

sys.path.insert(0, sys.argv[3])
from tests.training.test_trainer import make_trainer
trainer, _ = make_trainer(sys.argv[1], steps=STEPS, checkpoint_every=1)
trainer.fit()
print(" ".join(events))
""".replace("STEPS", str(STEPS))


def run_child(out: Path, die_at: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-c", CHILD, str(out), str(die_at), str(ROOT)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def events_of_a_whole_run(tmp_path_factory) -> list[str]:
    done = run_child(tmp_path_factory.mktemp("whole"), die_at=0)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_every_kill_point_of_a_checkpoint_write_leaves_a_checkpoint_that_resumes(tmp_path, events_of_a_whole_run):
    events = events_of_a_whole_run                         # 1-based: die_at = i + 1 dies before events[i]
    swaps = [i + 1 for i, e in enumerate(events) if e == "rename:checkpoint"]
    assert len(swaps) == STEPS + 1 and events.count("retire") == STEPS   # a checkpoint every step, one at the end
    first_rmtree = events.index("rmtree") + 1
    second = range(swaps[0] + 2, first_rmtree + 1)         # the second write's events, after the first's fsync
    assert events[swaps[1] - 2] == "retire" and len(second) > 8
    # one kill in each phase: writing the files, the nested model folder's swap, retiring the old
    # checkpoint, between the two renames, removing the retired one
    phases = [second[0], second[0] + events[second[0] - 1:].index("rename:model"), swaps[1] - 1, swaps[1],
              first_rmtree]
    assert [events[i - 1] for i in phases] == ["fsync", "rename:model", "retire", "rename:checkpoint", "rmtree"]
    straight, _ = make_trainer(steps=STEPS)
    reference = straight.fit().losses
    for die_at in phases:
        out = tmp_path / f"kill{die_at}"
        killed = run_child(out, die_at)
        assert killed.returncode == -signal.SIGKILL, (die_at, killed.stderr[-2000:])
        resumed, _ = make_trainer(out, steps=STEPS, checkpoint_every=1)
        result = resumed.fit()
        # the first checkpoint (step 1) was complete; the second may or may not have landed
        assert result.resumed_from in (1, 2), (die_at, events[die_at - 1], result.resumed_from)
        if die_at <= swaps[1]:                             # killed before the new checkpoint was in place
            assert result.resumed_from == 1, (die_at, events[die_at - 1])
        torch.testing.assert_close(torch.tensor(result.losses[result.resumed_from:]),
                                   torch.tensor(reference[result.resumed_from:]), rtol=1e-4, atol=1e-5)
        assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [], die_at
        assert (out / CHECKPOINT_DIR / STATE_FILE).is_file()


def test_a_kill_between_the_renames_is_recovered_and_same_pid_leftovers_do_not_block(tmp_path):
    target = tmp_path / "checkpoint"
    with atomic_directory(target) as staging:
        (staging / "state").write_text("previous")
    # what a kill between the renames leaves, by a process with this very PID (a restarted container)
    retired = tmp_path / f".checkpoint.old-{os.getpid()}-0123456789ab"
    os.replace(target, retired)
    half = tmp_path / f".checkpoint.tmp-{os.getpid()}-ba9876543210"
    half.mkdir()
    (half / "state").write_text("new, complete")
    legacy = tmp_path / ".checkpoint.tmp-x1y2z3"             # an older writer's staging name
    legacy.mkdir()
    assert recover_leftovers(target) == target
    assert (target / "state").read_text() == "previous" and sorted(os.listdir(tmp_path)) == ["checkpoint"]
    (tmp_path / f".checkpoint.old-{os.getpid()}").mkdir()    # the old layout's name, same PID
    with atomic_directory(target) as staging:
        (staging / "state").write_text("next")
    assert (target / "state").read_text() == "next" and sorted(os.listdir(tmp_path)) == ["checkpoint"]


def test_a_live_writers_folders_are_left_alone(tmp_path):
    live = tmp_path / f".checkpoint.tmp-{os.getppid()}-0123456789ab"   # the process that started this one
    live.mkdir()
    assert recover_leftovers(tmp_path / "checkpoint") is None
    assert live.is_dir()


def test_a_disk_that_refuses_the_checkpoint_write_keeps_the_previous_checkpoint_and_says_so(tmp_path):
    """A real write failure, not a mock: the second run's file-size limit (RLIMIT_FSIZE, what
    the kernel enforces like a full disk) lets small files through and cuts the checkpoint's."""
    resource = pytest.importorskip("resource")
    run = tmp_path / "run"
    config = {"variant": "micro", "lora": {"targets": ["decoder.attn"], "rank": 2}, "eval_items": 2,
              "data": {"size": 4, "shapes": {"image_size": 64, "max_objects": 2}},
              "train": {"steps": 1, "batch_size": 2, "lr": 1e-3, "output_dir": str(run), "progress": False,
                        "checkpoint_every": 1}}

    def train(steps: int, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
        path = tmp_path / f"config{steps}.json"
        path.write_text(json.dumps({**config, "train": {**config["train"], "steps": steps}}))

        def limit() -> None:
            if limit_bytes is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # the write fails with EFBIG instead of a signal
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.RLIM_INFINITY))
        return subprocess.run([sys.executable, "-m", "samprompt.cli", "train", "--config", str(path)], cwd=ROOT,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=limit, capture_output=True,
                              text=True, timeout=300)

    assert train(1).returncode == 0
    state = (run / CHECKPOINT_DIR / STATE_FILE).read_bytes()
    refused = train(3, limit_bytes=8192)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-2000:]
    assert lines[0].startswith("samprompt train: error: File too large: ") and "Traceback" not in refused.stderr
    assert (run / CHECKPOINT_DIR / STATE_FILE).read_bytes() == state           # the step-1 checkpoint, untouched
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []   # no staging left behind
    resumed = train(3)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert torch.load(run / CHECKPOINT_DIR / STATE_FILE, weights_only=True)["step"] == 3
