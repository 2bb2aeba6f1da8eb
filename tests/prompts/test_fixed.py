from __future__ import annotations

import pytest
import torch

from samprompt.prompts import FixedNativePrompt, LearnedConstantPrompt, NativePrompts


def test_learned_constant_prompt_ignores_text(core, image):
    features = core.encode([image, image])
    generator = LearnedConstantPrompt(core.prompt_dim)
    prompts = generator(core, features, text=["a", "b", "c"], batch_index=[0, 1, 1])
    assert prompts.sparse.shape == (3, 2, core.prompt_dim) and prompts.batch_index.tolist() == [0, 1, 1]
    assert torch.equal(prompts.sparse[0], prompts.sparse[2])
    assert len(generator(core, features)) == 2


def test_fixed_native_prompt_is_the_scaled_click_or_box(core, image):
    features = core.encode([image])  # 50 x 70
    centre = FixedNativePrompt(point=(0.5, 0.5))(core, features, text=["x", "y"])
    expected = NativePrompts()(core, features, points=torch.tensor([[[34.5, 24.5]]] * 2),
                               labels=torch.ones(2, 1, dtype=torch.int))
    torch.testing.assert_close(centre.sparse, expected.sparse)
    whole = FixedNativePrompt(box=(0, 0, 1, 1))(core, features, text="x")
    expected = NativePrompts()(core, features, boxes=torch.tensor([[0.0, 0.0, 69.0, 49.0]]))
    torch.testing.assert_close(whole.sparse, expected.sparse)
    with pytest.raises(ValueError, match="exactly one"):
        FixedNativePrompt()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        FixedNativePrompt(point=(1.5, 0.5))
