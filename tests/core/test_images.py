"""Images reach SAM only on SAM's scale and shape; anything else is refused by name."""
import numpy as np
import pytest
import torch
from PIL import Image
from segment_anything.utils.transforms import ResizeLongestSide

from samprompt.core.images import check_image_tensor, resize_images
from samprompt.data.files import read_rgb
from samprompt.errors import DatasetError, ImageFormatError


@pytest.mark.parametrize("tensor, expected", [
    (torch.rand(3, 8, 8), "ToTensor"),                                    # [0, 1]
    ((torch.rand(3, 8, 8) - 0.45) / 0.23, "normalised"),                  # mean/std normalised
    (torch.full((3, 8, 8), float("nan")), "NaN or infinite"),
    (torch.full((2, 3, 8, 8), float("inf")), "NaN or infinite"),
    (torch.full((3, 8, 8), 300.0), r"\[300, 300\]"),
])
def test_float_tensors_off_sams_scale_are_refused(tensor, expected):
    with pytest.raises(ImageFormatError, match=expected):
        check_image_tensor(tensor)


def test_pixel_scale_tensors_pass_even_when_dark():
    assert check_image_tensor(torch.rand(3, 8, 8) * 255).shape == (1, 3, 8, 8)
    assert check_image_tensor(torch.zeros(3, 8, 8)).shape == (1, 3, 8, 8)          # black
    assert check_image_tensor(torch.randint(0, 2, (3, 8, 8)).float()).shape == (1, 3, 8, 8)  # 0/1 pixel values


@pytest.mark.parametrize("image", [np.zeros((1, 4000, 3), np.uint8), torch.zeros(3, 4000, 1)])
def test_an_image_too_thin_to_resize_is_refused_with_its_size(image):
    with pytest.raises(ImageFormatError, match=r"(4000 x 1|1 x 4000) \(W x H\).*at most 256:1"):
        resize_images([image], ResizeLongestSide(128), torch.device("cpu"))
    resized, _ = resize_images([np.zeros((1, 200, 3), np.uint8)], ResizeLongestSide(128), torch.device("cpu"))
    assert resized[0].shape == (3, 1, 128)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    rgb = read_rgb(tmp_path / "g16.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255 and 120 <= rgb[32, 0, 0] <= 135   # a ramp, not white
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_image_files_that_cannot_be_read_are_named(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "a.png").read_bytes()[:60])
    with pytest.raises(DatasetError, match="cut.png.*cannot be read"):
        read_rgb(tmp_path / "cut.png")
    with pytest.raises(DatasetError, match="is a folder, expected a file"):
        read_rgb(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.png' does not exist"):
        read_rgb(tmp_path / "missing.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)                  # 4096 pixels: a "bomb" here
    with pytest.raises(DatasetError, match="a.png.*too large to decode safely"):
        read_rgb(tmp_path / "a.png")
