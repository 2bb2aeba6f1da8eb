"""Reading the image, label and annotation files of datasets and of the CLI, safely.

Every failure names the file: a missing path, a folder where a file belongs, a truncated or
corrupt image, one larger than PIL's decompression-bomb limit. Images of 16 bits per channel are
scaled to 8 bits (PIL's own conversion would clip them to white); "RGB" images come back as
H x W x 3 uint8.
"""
from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from samprompt.errors import DataFileNotFoundError, DatasetError

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def existing_file(path: str | Path, what: str = "file") -> Path:
    """`path` as a Path if it is a file; otherwise the library's error saying what it is instead."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{what} {str(path)!r} is a folder, expected a file")
    if not path.is_file():
        raise DataFileNotFoundError(f"{what} {str(path)!r} does not exist")
    return path


def open_image(path: str | Path, what: str = "image") -> Image.Image:
    """The fully decoded PIL image in `path` (decoding now, so a truncated file fails here, by name)."""
    path = existing_file(path, what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return image.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DatasetError(f"{what} {str(path)!r} is too large to decode safely ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"{what} {str(path)!r} cannot be read as an image (truncated or corrupt?): "
                           f"{error}") from None


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """H x W x 3 uint8 of any PIL image; 16-bit greyscale is scaled (65535 -> 255), not clipped."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.float64)
        scale = 65535.0 if image.mode != "I" or values.max(initial=0) > 255 else 255.0
        grey = np.clip(np.round(values / scale * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_rgb(path: str | Path, what: str = "image") -> np.ndarray:
    """The image in `path` as H x W x 3 uint8."""
    return to_rgb_array(open_image(path, what))


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """The parsed JSON in `path`, or the library's error naming the file and the parse error."""
    path = existing_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{what} {str(path)!r} is not valid JSON: {error}") from None


class _PlainDataUnpickler(pickle.Unpickler):
    """Builds only what pickle encodes without importing anything: dicts, lists, tuples, strings,
    bytes, numbers, booleans and None. Any class or function reference is refused, so a crafted
    file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise DatasetError(f"{self.source}: refuses to load {module}.{name}: only plain data (dicts, lists, "
                           "strings, numbers) is read from pickle files")

    source = "pickle file"


def load_plain_pickle(path: str | Path, what: str = "pickle file") -> Any:
    """Unpickle `path` without running any code (REFER's refs files hold only plain data)."""
    path = existing_file(path, what)
    with open(path, "rb") as handle:
        unpickler = _PlainDataUnpickler(handle, encoding="latin1")
        unpickler.source = f"{what} {str(path)!r}"
        try:
            return unpickler.load()
        except DatasetError:
            raise
        except Exception as error:  # noqa: BLE001 - any parse failure of untrusted bytes
            raise DatasetError(f"{what} {str(path)!r} is not a readable pickle: {error!r}") from None
