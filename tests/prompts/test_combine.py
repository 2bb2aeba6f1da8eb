import pytest
import torch

from samprompt import CombinedPrompts, NativePrompts, Prompts
from samprompt.errors import PromptError
from tests.helpers import LearnedTokens


def test_combined_generator_joins_tokens_and_routes_inputs(core, image):
    features = core.encode([image])
    learned, native = LearnedTokens(core.prompt_dim, tokens=3), NativePrompts()
    combined = CombinedPrompts(learned, native)
    points, labels = torch.tensor([[[10.0, 10.0]]]), torch.tensor([[1]])
    prompts = combined(core, features, points=points, labels=labels)
    alone = native(core, features, points=points, labels=labels)
    assert prompts.sparse.shape == (1, 3 + alone.sparse.shape[1], core.prompt_dim)
    torch.testing.assert_close(prompts.sparse[:, :3], learned.tokens[None])
    torch.testing.assert_close(prompts.sparse[:, 3:], alone.sparse)
    with pytest.raises(PromptError, match="no generator takes the inputs \\['text'\\]"):
        combined(core, features, points=points, labels=labels, text=["a cat"])


def test_dense_prompts_add_and_padding_masks_join():
    a = Prompts(torch.zeros(2, 1, 8), dense=torch.ones(2, 8, 4, 4), padding_mask=torch.tensor([[False], [True]]))
    b = Prompts(torch.zeros(2, 2, 8), dense=2 * torch.ones(2, 8, 4, 4))
    joined = Prompts.concatenate([a, b])
    assert torch.equal(joined.dense, 3 * torch.ones(2, 8, 4, 4))
    assert joined.padding_mask.tolist() == [[False, False, False], [True, False, False]]
    with pytest.raises(PromptError, match="2 and 3 rows"):
        Prompts.concatenate([a, Prompts(torch.zeros(3, 1, 8))])


def test_prompts_validate_shapes():
    with pytest.raises(PromptError, match="P x N x C"):
        Prompts(torch.zeros(2, 8))
    with pytest.raises(PromptError, match="dense prompts must be 2 x 8"):
        Prompts(torch.zeros(2, 1, 8), dense=torch.zeros(2, 4, 4, 4))
    with pytest.raises(PromptError, match="padding_mask"):
        Prompts(torch.zeros(2, 1, 8), padding_mask=torch.zeros(2, 1))


def test_native_prompts_need_something(core, image):
    features = core.encode([image])
    with pytest.raises(PromptError, match="at least one of points, boxes or masks"):
        NativePrompts()(core, features)
    with pytest.raises(PromptError, match="mask prompts must have shape \\(1, 1, 32, 32\\)"):
        NativePrompts()(core, features, masks=torch.zeros(1, 1, 16, 16))


def test_absent_parts_change_nothing_each_row_equals_its_present_parts_alone(core, image, text_encoder):
    from samprompt.refsam import RefSAM, RefSAMConfig

    torch.manual_seed(0)
    text = RefSAM(core, text_encoder, RefSAMConfig(adapters=None)).generator.eval()
    clicks = NativePrompts()
    combined = CombinedPrompts(text, clicks)
    features = core.encode([image])
    expressions = ["the red circle", "a blue square", "the star"]
    points, labels = torch.tensor([[[10.0, 12.0]], [[30.0, 20.0]], [[5.0, 40.0]]]), torch.ones(3, 1)
    parts = torch.tensor([[True, True], [True, False], [False, True]])       # both, text alone, click alone
    with torch.no_grad():
        mixed = core.decode(features, combined(core, features, text=expressions, points=points, labels=labels,
                                               parts=parts), multimask_output=False).low_res_logits
        both = core.decode(features, combined(core, features, text=expressions, points=points, labels=labels),
                           multimask_output=False).low_res_logits
        text_alone = core.decode(features, text(core, features, text=expressions), multimask_output=False)
        click_alone = core.decode(features, clicks(core, features, points=points, labels=labels),
                                  multimask_output=False)
    torch.testing.assert_close(mixed[0], both[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[1], text_alone.low_res_logits[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[2], click_alone.low_res_logits[2], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(mixed[1], both[1], atol=1e-3)                  # the click did count where present
    with pytest.raises(PromptError, match="rows \\[0\\] use no generator"):
        combined(core, features, text=expressions, points=points, labels=labels,
                 parts=torch.tensor([[False, False], [True, True], [True, True]]))
    with pytest.raises(PromptError, match="3 x 2 boolean"):
        combined(core, features, text=expressions, points=points, labels=labels, parts=torch.ones(3, 2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_clicks_and_boxes_are_refused_naming_the_prompt(core, image, bad):
    features = core.encode([image])
    with pytest.raises(PromptError, match="point 0 of prompt row 0 at \\(x=(nan|inf)"):
        NativePrompts()(core, features, points=torch.tensor([[[bad, 10.0]]]), labels=torch.tensor([[1]]))
    with pytest.raises(PromptError, match="box corner"):
        NativePrompts()(core, features, boxes=torch.tensor([[1.0, 2.0, bad, 20.0]]))
