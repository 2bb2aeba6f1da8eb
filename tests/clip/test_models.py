import pytest

from samprompt.clip import load_clip
from samprompt.errors import CheckpointNotFoundError, UnknownNameError


def test_unknown_or_unweighted_models_are_named(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown open_clip model 'ViT-Nope'"):
        load_clip("ViT-Nope")
    with pytest.raises(CheckpointNotFoundError, match="needs a local weights file"):
        load_clip("ViT-B-16", tmp_path / "missing.pt")
