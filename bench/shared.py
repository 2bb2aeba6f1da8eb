"""What every benchmark script does alike: name the machine, write the results, isolate a case.

Imported by the scripts beside it (`python bench/<script>.py` puts this folder on the path).
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch


def machine(device: torch.device | None = None) -> str:
    """The GPU's name, or the CPU's kind and the threads torch uses."""
    if device is not None and device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def write_json(path: str | None, result: Any) -> None:
    """Write `result` as indented JSON to `path` (nothing when None), creating its folder."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2))


def run_in_fresh_process(script: str, *args: str) -> dict[str, Any]:
    """Run `python script *args` and return the JSON object it prints last (a fresh process,
    so that its peak resident memory is its own)."""
    out = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
