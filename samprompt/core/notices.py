"""What a user hears when the small models the package ships meet an input of the user's choosing.

The shipped `tiny` core and the shapes CLIP know only the procedural shapes world (coloured
shapes on a noisy background, 128 px): on a photo their masks mean nothing. The first time a
user's own image reaches one of them (`Predictor.set_image`, `samprompt predict`), they are told
so once, with the way to load an official checkpoint instead.
"""
from __future__ import annotations

import warnings

from samprompt.core.config import CoreInfo


class ShippedModelWarning(UserWarning):
    """A shipped demo model (trained on shapes world only) is segmenting a user's image."""


_told: set[str] = set()


def shipped_model_notice(core: CoreInfo) -> str | None:
    """The notice for a core (`SamCore.describe()`, `Method.core_info(model)`), or None when its
    weights are not the package's own."""
    if core.weights != "shipped":
        return None
    variant, checkpoint = (("sam2.1_hiera_t", "sam2.1_hiera_tiny.pt") if core.family == "sam2"
                           else ("vit_b", "sam_vit_b_01ec64.pth"))
    return (f"the {core.variant!r} SAM core (and the shapes CLIP) the package ships were trained only on the "
            "procedural shapes world (coloured shapes on noise, 128 px), for the demo and the tests: on photos "
            "their masks mean nothing. For real images load an official checkpoint: "
            f"samprompt.build_sam('{variant}', checkpoint='{checkpoint}') in Python, or "
            f"--variant {variant} --checkpoint {checkpoint} on the command line (see docs/models.md).")


def warn_once_about_shipped_models(core: CoreInfo) -> None:
    """Warn (`ShippedModelWarning`) the first time in this process that `core` is a shipped model."""
    notice = shipped_model_notice(core)
    if notice is not None and notice not in _told:
        _told.add(notice)
        warnings.warn(notice, ShippedModelWarning, stacklevel=3)
