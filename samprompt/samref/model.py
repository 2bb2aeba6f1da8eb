"""`SAMRef`: SAM's own click prompts on the shared core, followed by the SAM-REF refiner."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samprompt.core.images import ImageLike
from samprompt.core.sam_core import SamCore
from samprompt.errors import CheckpointError
from samprompt.interactive.session import InteractiveSession
from samprompt.model import PromptedSam
from samprompt.prompts.native import NativePrompts
from samprompt.samref.config import SAMRefConfig
from samprompt.samref.refiner import SAMRefRefiner
from samprompt.tuning.io import load_trained, read_trained_config, save_trained

METADATA_KEY = "samref"


class SAMRef(PromptedSam):
    """Late-fusion interactive segmentation: `PromptedSam(core, NativePrompts(), SAMRefRefiner(core))`.

    Only the refiner trains; SAM (encoder, prompt encoder, decoder) stays frozen. For clicking,
    open a session: `session = model.session(image); mask = session.click(x, y)`.
    """

    refiner: SAMRefRefiner

    def __init__(self, core: SamCore, config: SAMRefConfig = SAMRefConfig()) -> None:
        super().__init__(core, NativePrompts(), SAMRefRefiner(core, config), multimask_output=False)
        self.config = config

    def session(self, image: ImageLike, *, refine: bool = True) -> InteractiveSession:
        """An interactive session on `image` (encoded once); `refine=False` gives SAM alone."""
        return InteractiveSession(self, image, refine=refine)

    def save(self, directory: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Save only the refiner's tensors, with its config."""
        info = {"config": self.config.to_dict()}
        return save_trained(self, directory, metadata={**(metadata or {}), METADATA_KEY: json.dumps(info)})

    @classmethod
    def load(cls, directory: str | Path, core: SamCore) -> "SAMRef":
        """Rebuild a saved SAM-REF on `core` (the variant it was trained with) and load the refiner."""
        saved = read_trained_config(directory)
        if METADATA_KEY not in saved.get("metadata", {}):
            raise CheckpointError(f"{str(directory)!r} holds trained weights, but not of a SAM-REF refiner")
        info = json.loads(saved["metadata"][METADATA_KEY])
        model = cls(core, SAMRefConfig.from_dict(info["config"]))
        load_trained(model, directory)
        return model
