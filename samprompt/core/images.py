"""Turning user images (arrays, PIL images, tensors) into SAM's encoder input."""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image
from segment_anything.utils.transforms import ResizeLongestSide
from torch import Tensor

from samprompt.errors import ImageFormatError

ImageLike = Union[np.ndarray, Image.Image, Tensor]
Images = Union[ImageLike, Sequence[ImageLike]]


def _check_hwc_uint8(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ImageFormatError(f"{where}: expected a uint8 H x W x 3 RGB array, got dtype {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        raise ImageFormatError(f"{where}: grayscale image of shape {array.shape}; expected H x W x 3 RGB "
                               "(convert with np.stack([g, g, g], -1) or PIL's .convert('RGB'))")
    if array.ndim != 3 or array.shape[2] != 3:
        hint = " (RGBA: drop the alpha channel)" if array.ndim == 3 and array.shape[2] == 4 else ""
        raise ImageFormatError(f"{where}: expected shape H x W x 3, got {array.shape}{hint}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageFormatError(f"{where}: empty image of shape {array.shape}")
    return array


def image_array(image: ImageLike, where: str) -> np.ndarray:
    """A PIL image or array, checked to be H x W x 3 uint8 RGB (errors name `where`)."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            raise ImageFormatError(f"{where}: PIL image in mode {image.mode!r}; expected 'RGB' "
                                   "(use image.convert('RGB'))")
        return _check_hwc_uint8(np.asarray(image), where)
    if isinstance(image, np.ndarray):
        return _check_hwc_uint8(image, where)
    raise ImageFormatError(f"{where}: expected a numpy array, PIL image or tensor, got {type(image).__name__}")


def check_image_tensor(images: Tensor) -> Tensor:
    """A 3 x H x W or B x 3 x H x W uint8 / float tensor as B x 3 x H x W, checked: float values
    must be finite and on SAM's [0, 255] scale (a [0, 1] tensor from torchvision's `ToTensor`, or
    a mean/std-normalised one, is refused with the conversion to make)."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ImageFormatError(f"expected an image tensor of shape B x 3 x H x W, got {tuple(images.shape)}")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ImageFormatError(f"empty image tensor of shape {tuple(images.shape)}")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ImageFormatError(f"expected a uint8 or floating image tensor with values in [0, 255], "
                               f"got dtype {images.dtype}")
    if images.is_floating_point():
        check_pixel_range(images)
    return images


def check_pixel_range(images: Tensor) -> None:
    """Float pixels: finite, within [0, 255], and not the [0, 1] scale (fractional values <= 1)."""
    if not bool(torch.isfinite(images).all()):
        raise ImageFormatError("image tensor holds NaN or infinite values; expected pixel values in [0, 255]")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 255:
        raise ImageFormatError(f"image tensor values span [{low:.3g}, {high:.3g}]; expected [0, 255] pixel values "
                               "(an ImageNet-normalised tensor? SAM normalises itself: pass the raw pixels)")
    if high <= 1.0 and bool((images != images.round()).any()):
        raise ImageFormatError(f"image tensor values span [{low:.3g}, {high:.3g}], the [0, 1] scale of torchvision's "
                               "ToTensor; expected [0, 255] (multiply by 255)")


def check_resizable(height: int, width: int, target: int, where: str) -> None:
    """The image keeps at least one pixel on its shorter side when its longer side becomes `target`."""
    short, long = sorted((height, width))
    if int(short * target / long + 0.5) < 1:
        raise ImageFormatError(f"{where}: a {width} x {height} (W x H) image loses its shorter side when its longer "
                               f"side is resized to the encoder's {target} px; expected a side ratio of at most "
                               f"{2 * target}:1")


def image_list(images: Images) -> list[ImageLike]:
    """The images of a list-like `Images` (not a batch tensor) as a list: one array or PIL image
    becomes a one-item list; an empty list is refused."""
    if isinstance(images, (np.ndarray, Image.Image)):
        images = [images]
    if len(images) == 0:
        raise ImageFormatError("no images were given")
    return list(images)


def single_image_tensor(image: Tensor, index: int) -> Tensor:
    """A 3 x H x W (or 1 x 3 x H x W) tensor inside a list of images, checked, as 1 x 3 x H x W."""
    tensor = check_image_tensor(image)
    if tensor.shape[0] != 1:
        raise ImageFormatError(f"image {index}: a tensor inside a list must be 3 x H x W, got {tuple(image.shape)}")
    return tensor


def resize_images(images: Images, transform: ResizeLongestSide, device: torch.device
                  ) -> tuple[list[Tensor], list[tuple[int, int]]]:
    """Resize every image so that its longest side is the encoder's size.

    Arrays and PIL images go through segment-anything's `ResizeLongestSide.apply_image` (as
    `SamPredictor.set_image` does); tensors through `apply_image_torch`.

    Returns:
        a list of 3 x h x w float tensors on `device` with values in [0, 255], and the
        original (H, W) of each image.
    """
    if isinstance(images, Tensor):
        batch = check_image_tensor(images).to(device)
        sizes = [tuple(batch.shape[-2:])] * batch.shape[0]
        check_resizable(*sizes[0], transform.target_length, "images")
        resized = transform.apply_image_torch(batch.float())
        return list(resized), sizes
    resized, sizes = [], []
    for i, image in enumerate(image_list(images)):
        if isinstance(image, Tensor):
            tensor = single_image_tensor(image, i)
            sizes.append(tuple(tensor.shape[-2:]))
            check_resizable(*sizes[-1], transform.target_length, f"image {i}")
            resized.append(transform.apply_image_torch(tensor.to(device).float())[0])
            continue
        array = image_array(image, f"image {i}")
        sizes.append(array.shape[:2])
        check_resizable(*sizes[-1], transform.target_length, f"image {i}")
        out = torch.as_tensor(transform.apply_image(array), device=device)
        resized.append(out.permute(2, 0, 1).float())
    return resized, sizes
