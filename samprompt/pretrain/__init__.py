"""Scripts that reproduce the small models the package ships (see docs/models.md)."""
from __future__ import annotations

import json
from pathlib import Path


def earlier_record(record: Path, weights: str) -> dict:
    """The JSON record of how the `--init` weights were made, or just their path when they have none."""
    return json.loads(record.read_text()) if record.is_file() else {"weights": str(weights)}
