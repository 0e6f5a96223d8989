"""Typed errors of video probing and decoding.

Every error names the file and the reason, and is a
:class:`~vidstruct.errors.VidstructError`, so the CLI prints it on one line
and exits non-zero. The family::

    VideoDecodeError                 any failure to read frames from a file
    ├── VideoNotFoundError           the path does not exist / is not a file
    ├── VideoOpenError               not a readable container (empty, random bytes, truncated header)
    ├── NoVideoStreamError           the container has no video stream (audio-only)
    ├── NoFramesError                the video stream holds zero decodable frames
    ├── CorruptVideoError            truncated data or packets that fail to decode
    ├── VideoTooLargeError           declared resolution above the allowed pixel count
    └── FrameOutOfRangeError         a frame index / time past the end (also an IndexError)

Errors keep ``path`` and ``reason`` attributes and pickle across processes
(DataLoader workers, process pools).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidstruct.errors import VidstructError


class VideoDecodeError(VidstructError):
    """A video could not be read; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


class VideoNotFoundError(VideoDecodeError):
    """The path does not exist or is not a regular file."""


class VideoOpenError(VideoDecodeError):
    """FFmpeg could not open the file as a media container."""


class NoVideoStreamError(VideoDecodeError):
    """The container opened but has no video stream (e.g. audio-only)."""


class NoFramesError(VideoDecodeError):
    """The video stream holds zero decodable frames."""


class CorruptVideoError(VideoDecodeError):
    """The data is truncated or frames fail to decode."""


class VideoTooLargeError(VideoDecodeError):
    """The declared resolution exceeds the allowed number of pixels (rejected before allocating)."""


class FrameOutOfRangeError(VideoDecodeError, IndexError):
    """A requested frame index or timestamp lies outside the video."""

    def __str__(self) -> str:  # IndexError is fine with the plain message
        return f"{self.path}: {self.reason}"


class DecoderBackendError(VidstructError):
    """A decoder backend was requested that is unknown or not installed."""
