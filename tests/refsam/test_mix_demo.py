"""The mix-and-match demo section reuses what the other sections trained."""
import torch

from samprompt.core.registry import build_sam
from samprompt.demo import DemoSettings
from samprompt.methods.saving import save
from samprompt.refsam.clicks import RefSAMWithClicks
from samprompt.refsam.config import RefSAMConfig
from samprompt.refsam.demo import DEMO_REFSAM
from samprompt.refsam.mix_demo import DEMO_TEXT_CLICK, start_text_from_refsam
from samprompt.refsam.model import RefSAM
from samprompt.text import load_text_encoder


def test_the_text_part_starts_from_the_referring_sections_trained_prompt(tmp_path):
    torch.manual_seed(0)
    referring = RefSAM(build_sam("tiny"), load_text_encoder("shapes"), DEMO_REFSAM, text_encoder_spec="shapes")
    with torch.no_grad():
        for parameter in referring.generator.mlp.parameters():
            parameter.add_(torch.randn_like(parameter))       # "trained": unlike a fresh init
    save(referring, tmp_path / "refsam" / "trained")
    model = RefSAMWithClicks(build_sam("tiny"), load_text_encoder("shapes"), DEMO_TEXT_CLICK,
                             text_encoder_spec="shapes")
    before = {k: v.clone() for k, v in model.text_prompt.state_dict().items()}
    start_text_from_refsam(model, tmp_path, DemoSettings(progress=False))
    copied = model.text_prompt.state_dict()
    assert not torch.equal(before["mlp.layers.0.weight"], copied["mlp.layers.0.weight"])
    for key, value in referring.generator.state_dict().items():
        if not key.startswith("tracker."):
            torch.testing.assert_close(copied[key], value, msg=key)
    assert isinstance(DEMO_TEXT_CLICK, RefSAMConfig) and DEMO_REFSAM.tracking and not DEMO_TEXT_CLICK.tracking
