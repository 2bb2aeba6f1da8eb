"""`SAMRef`: SAM's own click prompts on the shared core, followed by the SAM-REF refiner."""
from __future__ import annotations

from samprompt.core.base import require_family
from samprompt.core.sam_core import SamCore
from samprompt.model import PromptedSam
from samprompt.prompts.native import NativePrompts
from samprompt.samref.config import SAMRefConfig
from samprompt.samref.refiner import SAMRefRefiner


class SAMRef(PromptedSam):
    """Late-fusion interactive segmentation: `PromptedSam(core, NativePrompts(), SAMRefRefiner(core))`.

    Only the refiner trains; SAM (encoder, prompt encoder, decoder) stays frozen. For clicking,
    open a session: `session = model.session(image); mask = session.click(x, y)`.
    """

    refiner: SAMRefRefiner

    def __init__(self, core: SamCore, config: SAMRefConfig = SAMRefConfig()) -> None:
        require_family(core, ("sam", "sam2"), "SAM-REF")
        super().__init__(core, NativePrompts(), SAMRefRefiner(core, config), multimask_output=False)
        self.config = config
