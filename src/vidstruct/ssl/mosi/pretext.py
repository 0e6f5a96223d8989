"""What MoSI pretraining needs besides the generator and the engine: image-file checks, per-clip indices for
evaluation, and the class names of the pretext task.

The config → objects wiring (``task: mosi``) is :mod:`vidstruct.recipes.mosi`.
"""

from __future__ import annotations

from typing import Any

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from vidstruct.ssl.mosi.errors import MoSIError
from vidstruct.ssl.mosi.generator import MoSIGenerator
from vidstruct.ssl.mosi.labels import MotionLabelSpace
from vidstruct.ssl.mosi.sources import ImageFileSource, ImageSource

__all__ = ["IndexedItems", "check_image_files", "pretext_classes"]


def check_image_files(source: ImageSource, generator: MoSIGenerator) -> None:
    """Fail fast on unreadable or too-small image files, reading headers only (no decoding).

    The rule is the generator's: the short side must reach the crop size (and exceed it when
    images are not resized). Truncated pixel data still fails at load time, naming the file.
    """
    if not isinstance(source, ImageFileSource):
        return
    crop, resized = generator.crop_size, generator.short_side is not None
    for path in source.paths:
        if not path.is_file():
            raise MoSIError(f"{path}: image file not found")
        try:
            with Image.open(path) as im:
                w, h = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise MoSIError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from None
        if min(h, w) < crop or (not resized and min(h, w) <= crop):
            raise MoSIError(
                f"{path}: image {w}x{h} is too small for MoSI crops of {crop} px "
                "(the short side must be larger than the crop)"
            )


class IndexedItems(Dataset):
    """``dataset[i]`` with ``"index"`` set to ``i``, so that evaluation counts every clip once
    (MoSI items carry the *image* index, shared by the clips of one image)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "index": index}


def pretext_classes(space: MotionLabelSpace) -> list[str]:
    """Class names stored with the run: joint names, or ``"move_x:x-2"``-style names of both heads."""
    names = space.class_names()
    if isinstance(names, dict):
        return [f"{head}:{n}" for head, ns in names.items() for n in ns]
    return list(names)
