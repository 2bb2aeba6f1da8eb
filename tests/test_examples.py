import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_segment_with_prompts_example_writes_overlays(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "segment_with_prompts.py"), "--variant", "micro", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "core micro" in result.stdout
    for name in ("image.png", "point_overlay.png", "box_overlay.png"):
        assert Image.open(tmp_path / name).size == (160, 160)
