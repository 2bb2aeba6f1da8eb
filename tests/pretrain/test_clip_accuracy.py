"""The paired zero-shot comparison of shapes CLIPs on held-out crops."""
from __future__ import annotations

import math

import numpy as np
import pytest

from samprompt.clip import shipped_clip_dir
from samprompt.pretrain import clip_accuracy


def test_paired_counts_the_discordant_crops_and_tests_them_exactly():
    first = np.array([True] * 10 + [False] * 2 + [True] * 5)
    second = np.array([False] * 10 + [True] * 2 + [True] * 5)
    result = clip_accuracy.paired(first, second)
    assert result["only_first_right"] == 10 and result["only_second_right"] == 2
    assert result["mcnemar_p"] == pytest.approx(2 * sum(math.comb(12, k) for k in range(3)) / 2 ** 12)
    assert clip_accuracy.paired(first, first) == {"only_first_right": 0, "only_second_right": 0, "mcnemar_p": 1.0}


def test_a_clip_compared_with_itself_agrees_on_every_crop():
    result = clip_accuracy.compare([shipped_clip_dir(), f"{shipped_clip_dir()}/"], first_scene=150, scenes=4)
    assert result["crops"] > 8 and result["scenes"] == [150, 154]
    (a, b) = result["models"].values()
    assert a == b and 0.5 < a["shape"] <= 1 and 0.5 < a["colour"] <= 1
    assert result["paired"]["colour"] == {"only_first_right": 0, "only_second_right": 0, "mcnemar_p": 1.0}


def test_the_script_refuses_an_empty_range(capsys):
    with pytest.raises(SystemExit) as exit_info:
        clip_accuracy.main(["some_dir", "--scenes", "0"])
    assert exit_info.value.code == 2
    assert "--first-scene must be >= 0 and --scenes > 0; got 150 and 0" in capsys.readouterr().err
