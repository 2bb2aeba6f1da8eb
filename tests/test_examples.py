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


def test_refer_and_track_example_trains_tracks_and_scores(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "refer_and_track.py"), "--variant", "micro", "--steps", "2",
         "--image-size", "64", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "J&F" in result.stdout
    assert len(list(tmp_path.glob("frame_*.png"))) == 6


def test_mix_and_match_example_shares_one_core_and_one_encoder_pass(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mix_and_match.py"), "--variant", "micro", "--steps", "2",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "one core, adapters ['classes', 'text']" in result.stdout
    kinds = ", ".join(["text"] * 2 + ["classes"] * 7 + ["clicks"] * 2)
    assert f"11 rows ({kinds}) from 1 encoder pass(es) over 2 images" in result.stdout
    assert "session from text" in result.stdout and (tmp_path / "text_then_clicks.png").is_file()


def test_segment_everything_and_export_example(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "segment_everything_and_export.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "named:" in result.stdout and "ONNX Runtime vs PyTorch" in result.stdout
    for name in ("masks.json", "label_map.png", "overlay.png", "onnx/encoder.onnx", "onnx/prompt_decoder.onnx"):
        assert (tmp_path / name).is_file(), name
