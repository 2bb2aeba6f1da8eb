"""`RefSAM`: a core, a frozen text encoder and the RefSAM prompt modules, composed."""
from __future__ import annotations

from torch import Tensor

from samprompt.core.base import require_family
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import MaskPrediction
from samprompt.model import PromptedSam
from samprompt.refsam.config import RefSAMConfig
from samprompt.refsam.prompt import RefSAMPrompt
from samprompt.text.encoders import TextEncoder
from samprompt.tuning.adapters import require_adapters


class RefSAM(PromptedSam):
    """Referring segmentation on a frozen SAM: `model(images, text=[...])`.

    Building it gives the core the adapters / LoRA the config declares (a core that already
    has other ones is refused, naming both) and, with `config.train_decoder`, unfreezes SAM's
    mask decoder; everything else of the core and
    the text encoder stays frozen. Several expressions per image share one encoder pass.
    For video, use `RefSAMVideoTracker` (online, one frame at a time). Save with
    `samprompt.save(model, folder)`, load with `samprompt.load(folder)`.
    """

    generator: RefSAMPrompt

    def __init__(self, core: SamCore, text_encoder: TextEncoder, config: RefSAMConfig = RefSAMConfig(),
                 *, text_encoder_spec: str | None = None) -> None:
        require_family(core, ("sam", "sam2"), "RefSAM")
        require_adapters(core, config.adapter_request(), owner="the RefSAM config")
        if config.train_decoder:
            for parameter in core.mask_decoder.parameters():
                parameter.requires_grad_(True)
        super().__init__(core, RefSAMPrompt.for_core(core, text_encoder, config), multimask_output=False)
        self.config = config
        self.text_encoder_spec = text_encoder_spec or getattr(text_encoder, "spec", None)

    def next_track(self, prediction: MaskPrediction, previous: Tensor | None = None) -> Tensor:
        """The track token for the next frame from this frame's prediction (P x 1 x C)."""
        return self.generator.next_track(prediction.mask_tokens, previous)
