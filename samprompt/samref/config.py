"""SAM-REF configuration: one validated dataclass, saved beside the trained weights."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from samprompt.errors import ConfigError
from samprompt.utils.dataclass_config import from_dict


@dataclass(frozen=True)
class SAMRefConfig:
    """How a SAM-REF refiner is built and run.

    Both refiners work in the core's padded encoder-input frame (the square SAM pads images
    into), resampled to their own resolution.

    Attributes:
        width: channels of the fusion features (the global and the local refiner alike).
        blocks: ResBlocks after the fusion, each re-adding the SAM embedding.
        global_size: side of the global refiner's frame (None: the core's encoder input
            size, 1024 for official SAM).
        local_size: side the detail window is resampled to for the local refiner.
        click_radius: radius of the click disks, in pixels of the refiner's frame.
        window_margin: the detail window is the difference region's box grown by this
            fraction of its side on every side.
        min_window: smallest window side, as a fraction of `global_size`.
        selector_ratio: the dynamic selector keeps the previous mask outside the detail window
            when the global error area grows by more than this factor between clicks.
        local: run the local refiner and the selector (False: the global refiner only).
    """

    width: int = 32
    blocks: int = 4
    global_size: int | None = None
    local_size: int = 256
    click_radius: float = 5.0
    window_margin: float = 0.4
    min_window: float = 0.125
    selector_ratio: float = 1.1
    local: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.width < 4 or self.width % 4:
            problems.append(f"width must be a positive multiple of 4, got {self.width}")
        if self.blocks < 0:
            problems.append(f"blocks must be >= 0, got {self.blocks}")
        for name in ("global_size", "local_size"):
            value = getattr(self, name)
            if value is not None and (value < 16 or value % 4):
                problems.append(f"{name} must be a multiple of 4 and at least 16, got {value}")
        if self.click_radius <= 0:
            problems.append(f"click_radius must be positive, got {self.click_radius}")
        if self.window_margin < 0:
            problems.append(f"window_margin must be >= 0, got {self.window_margin}")
        if not 0 < self.min_window <= 1:
            problems.append(f"min_window must be in (0, 1], got {self.min_window}")
        if self.selector_ratio < 1:
            problems.append(f"selector_ratio must be >= 1, got {self.selector_ratio}")
        if problems:
            raise ConfigError("invalid SAMRefConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SAMRefConfig":
        return from_dict(cls, data, "SAM-REF config")
