"""Probing and decoding video (PyAV default, torchcodec optional).

- :func:`probe` — duration, frame rate, frame count, size, rotation, codec, audio;
- :class:`VideoReader` / :func:`read_frames` — exact frames by index or time,
  uint8 ``[T, H, W, C]`` RGB, with a keyframe-aware decode planner;
- :func:`iter_windows` — bounded-memory streaming windows over long videos;
- :func:`save_frames` — frames to lossless PNG;
- :func:`write_video` — frames to H.264 (synthetic data, tests, benchmarks);
- :mod:`vidstruct.io.errors` — the typed :class:`VideoDecodeError` family;
- :mod:`vidstruct.io.torchcodec_backend` — the same reader API on torchcodec, when installed.
"""

from vidstruct.io.container import DEFAULT_MAX_PIXELS
from vidstruct.io.errors import (
    CorruptVideoError,
    DecoderBackendError,
    FrameOutOfRangeError,
    NoFramesError,
    NoVideoStreamError,
    VideoDecodeError,
    VideoNotFoundError,
    VideoOpenError,
    VideoTooLargeError,
)
from vidstruct.io.index import FrameIndex
from vidstruct.io.png_frames import SavedFrame, save_frames
from vidstruct.io.probe import VideoInfo, probe
from vidstruct.io.reader import DecodeStats, VideoReader, read_frames
from vidstruct.io.stream import Window, WindowStream, iter_windows
from vidstruct.io.torchcodec_backend import open_reader, torchcodec_available
from vidstruct.io.writer import write_video

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "CorruptVideoError",
    "DecodeStats",
    "DecoderBackendError",
    "FrameIndex",
    "FrameOutOfRangeError",
    "NoFramesError",
    "NoVideoStreamError",
    "SavedFrame",
    "VideoDecodeError",
    "VideoInfo",
    "VideoNotFoundError",
    "VideoOpenError",
    "VideoReader",
    "VideoTooLargeError",
    "Window",
    "WindowStream",
    "iter_windows",
    "open_reader",
    "probe",
    "read_frames",
    "save_frames",
    "torchcodec_available",
    "write_video",
]
