"""Where MoSI still images come from: image files, video frames, or procedural textures.

Every source is a sequence of images: ``len(source)``, ``source.describe(i)`` (the path or id
used in messages) and ``source.load(i, generator=..., train=...)`` → uint8 ``[H, W, 3]`` RGB.

- :class:`ImageFileSource` — image files (jpg / png / anything PIL reads), from a list of
  paths, a folder (:meth:`ImageFileSource.from_folder`) or a list file
  (:meth:`ImageFileSource.from_list_file`);
- :class:`VideoFrameSource` — one frame of each video of a recognition data set (any
  :class:`~vidstruct.data.records.ClipRecord` list, or plain paths): a uniformly random time
  of the clip's segment in training, its middle in evaluation, decoded with
  :class:`vidstruct.io.reader.VideoReader`;
- :class:`ProceduralSource` — deterministic textured images
  (:func:`~vidstruct.ssl.mosi.procedural.procedural_image`), for offline benchmarks.

Unreadable inputs raise :class:`~vidstruct.ssl.mosi.errors.MoSIError` (video decode errors
are :class:`~vidstruct.io.errors.VideoDecodeError`), naming the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vidstruct.data.records import ClipRecord
from vidstruct.ssl.mosi.errors import MoSIError
from vidstruct.ssl.mosi.procedural import procedural_image

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@runtime_checkable
class ImageSource(Protocol):
    """A sequence of still images for MoSI."""

    def __len__(self) -> int: ...

    def describe(self, index: int) -> str:
        """Path or id of image ``index`` (for error messages and logs)."""
        ...

    def load(self, index: int, *, generator: torch.Generator | None = None, train: bool = True) -> torch.Tensor:
        """uint8 ``[H, W, 3]`` RGB image ``index``."""
        ...


def load_image(path: str | Path) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` RGB pixels of an image file; :class:`MoSIError` naming ``path`` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise MoSIError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            im.load()  # decode now, so truncated data fails here
            array = np.array(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MoSIError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from None
    return torch.from_numpy(array)


class ImageFileSource:
    """Images read from files with PIL (``paths`` in order)."""

    def __init__(self, paths: Sequence[str | Path], *, origin: str = "image list") -> None:
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise MoSIError(f"{origin}: no images to generate MoSI clips from")

    @classmethod
    def from_folder(
        cls, root: str | Path, *, extensions: Sequence[str] = IMAGE_EXTENSIONS, recursive: bool = True
    ) -> ImageFileSource:
        """All files under ``root`` whose suffix is in ``extensions`` (case-insensitive), sorted by path."""
        root = Path(root)
        if not root.is_dir():
            raise MoSIError(f"{root}: image folder not found (expected a directory of {', '.join(extensions)} files)")
        exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
        pattern = root.rglob("*") if recursive else root.glob("*")
        paths = sorted(p for p in pattern if p.is_file() and p.suffix.lower() in exts)
        if not paths:
            raise MoSIError(f"{root}: image folder holds no images ({', '.join(sorted(exts))})")
        return cls(paths, origin=str(root))

    @classmethod
    def from_list_file(cls, list_file: str | Path, *, root: str | Path | None = None) -> ImageFileSource:
        """One image path per line (blank lines and ``#`` comments skipped); relative paths are
        resolved against ``root`` (default: the list file's folder)."""
        list_file = Path(list_file)
        if not list_file.is_file():
            raise MoSIError(f"{list_file}: image list file not found")
        base = Path(root) if root is not None else list_file.parent
        lines = [ln.strip() for ln in list_file.read_text(encoding="utf-8").splitlines()]
        paths = [Path(ln) if Path(ln).is_absolute() else base / ln for ln in lines if ln and not ln.startswith("#")]
        return cls(paths, origin=str(list_file))

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self, index: int) -> str:
        return str(self.paths[index])

    def load(self, index: int, *, generator: torch.Generator | None = None, train: bool = True) -> torch.Tensor:
        return load_image(self.paths[index])


class VideoFrameSource:
    """One frame per video: random time of the segment (training) or its middle (evaluation).

    ``videos``: :class:`~vidstruct.data.records.ClipRecord` (``start_s`` / ``end_s`` bound the
    segment when set) or plain paths; ``short_side``: decode-time resize (``None``: full size).
    """

    def __init__(self, videos: Sequence[ClipRecord | str | Path], *, short_side: int | None = None) -> None:
        self.records = [v if isinstance(v, ClipRecord) else ClipRecord(path=str(v)) for v in videos]
        if not self.records:
            raise MoSIError("video list: no videos to sample MoSI frames from")
        self.short_side = short_side

    def __len__(self) -> int:
        return len(self.records)

    def describe(self, index: int) -> str:
        return self.records[index].path

    def load(self, index: int, *, generator: torch.Generator | None = None, train: bool = True) -> torch.Tensor:
        from vidstruct.io.reader import VideoReader  # decoding layer, imported lazily

        record = self.records[index]
        with VideoReader(record.path, short_side=self.short_side, threads=1) as reader:
            duration = reader.duration_s
            start = min(max(record.start_s or 0.0, 0.0), duration)
            end = duration if record.end_s is None else min(max(record.end_s, start), duration)
            u = float(torch.rand((), generator=generator)) if train else 0.5
            t = start + u * (end - start)
            last = float(reader.times_s[-1])
            return reader.get_frames_at([min(t, last)])[0]


class ProceduralSource:
    """``num_images`` procedural textured images of ``height`` × ``width``, a pure function of ``seed``."""

    def __init__(self, num_images: int, *, height: int = 160, width: int = 160, seed: int = 0) -> None:
        if num_images < 1:
            raise MoSIError(f"procedural source: num_images must be >= 1, got {num_images}")
        self.num_images, self.height, self.width, self.seed = int(num_images), int(height), int(width), int(seed)

    def __len__(self) -> int:
        return self.num_images

    def describe(self, index: int) -> str:
        return f"procedural:{self.seed}:{index}"

    def load(self, index: int, *, generator: torch.Generator | None = None, train: bool = True) -> torch.Tensor:
        if not 0 <= index < self.num_images:
            raise IndexError(f"procedural image {index} outside [0, {self.num_images})")
        return procedural_image(self.seed, index, self.height, self.width)
