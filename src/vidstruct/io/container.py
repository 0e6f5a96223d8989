"""Open a video file with PyAV and turn every failure into a typed error.

:func:`open_video` checks, in order: the path exists and is a non-empty
file; a raw YUV4MPEG header does not declare an absurd size; FFmpeg can open
the container; it has a video stream; the stream's declared width × height
is within ``max_pixels`` (checked before any frame is decoded or allocated).
Streams other than the chosen video stream are discarded by the demuxer.
"""

from __future__ import annotations

import re
from pathlib import Path

import av
import av.logging
from av.container import InputContainer
from av.video.stream import VideoStream

from vidstruct.io.errors import (
    NoVideoStreamError,
    VideoNotFoundError,
    VideoOpenError,
    VideoTooLargeError,
)

#: default limit on declared width × height (8192², enough for 8K UHD)
DEFAULT_MAX_PIXELS = 8192 * 8192


def check_path(path: str | Path) -> Path:
    """The path as :class:`Path` if it is an existing, non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise VideoNotFoundError(p, "no such file")
    if not p.is_file():
        raise VideoNotFoundError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise VideoOpenError(p, "file is empty (0 bytes)")
    return p


def check_resolution(path: str | Path, width: int, height: int, max_pixels: int) -> None:
    """Raise :class:`VideoTooLargeError` if ``width × height`` exceeds ``max_pixels``."""
    if width * height > max_pixels:
        raise VideoTooLargeError(
            path,
            f"declared resolution {width}x{height} ({width * height} pixels) exceeds the limit of "
            f"{max_pixels} pixels (raise max_pixels to allow it)",
        )


def _check_y4m_header(path: Path, max_pixels: int) -> None:
    """Reject a YUV4MPEG2 header declaring an absurd size (FFmpeg's own error would be cryptic)."""
    with open(path, "rb") as f:
        head = f.read(256)
    if not head.startswith(b"YUV4MPEG2 "):
        return
    line = head.split(b"\n", 1)[0].decode("ascii", "replace")
    w = re.search(r" W(\d+)", line)
    h = re.search(r" H(\d+)", line)
    if w and h:
        check_resolution(path, int(w.group(1)), int(h.group(1)), max_pixels)


def _ffmpeg_open_reason(path: Path, exc: Exception) -> str:
    """FFmpeg's own error log for a failed open (e.g. 'moov atom not found'), else the exception text."""
    previous = av.logging.get_level()
    skip_repeated = av.logging.get_skip_repeated()
    logs: list[tuple[int, str, str]] = []
    try:
        av.logging.set_level(av.logging.ERROR)
        av.logging.set_skip_repeated(False)
        with av.logging.Capture() as logs:
            try:
                av.open(str(path), mode="r").close()
            except Exception:  # we only want the log lines
                pass
    except Exception:  # diagnostics must never mask the real error
        logs = []
    finally:
        av.logging.set_level(previous)
        av.logging.set_skip_repeated(skip_repeated)
    details = [msg.strip() for _level, _name, msg in logs if msg and msg.strip()]
    base = getattr(exc, "strerror", None) or str(exc)
    if details:
        return f"{base} ({details[-1]})"
    return base


def open_video(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[InputContainer, VideoStream]:
    """Open ``path`` and return ``(container, video_stream)``; typed errors on any failure.

    The caller owns the container and must close it.
    """
    p = check_path(path)
    _check_y4m_header(p, max_pixels)
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoOpenError(p, f"cannot open as a video container: {_ffmpeg_open_reason(p, exc)}") from None
    try:
        videos = list(container.streams.video)
        if not videos:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
            raise NoVideoStreamError(p, f"no video stream in the file (streams: {kinds})")
        stream = _best_video_stream(container, videos)
        width = stream.codec_context.width or stream.width or 0
        height = stream.codec_context.height or stream.height or 0
        check_resolution(p, width, height, max_pixels)
        if width <= 0 or height <= 0:
            raise VideoOpenError(p, f"video stream declares no valid frame size ({width}x{height})")
        for other in container.streams:
            if other.index != stream.index:
                try:
                    other.discard = av.stream.Discard.all
                except (AttributeError, ValueError):  # older PyAV: harmless, only slower
                    pass
    except BaseException:
        container.close()
        raise
    return container, stream


def _best_video_stream(container: InputContainer, videos: list[VideoStream]) -> VideoStream:
    """FFmpeg's choice of video stream (skips cover-art pictures), else the first one."""
    candidates = [s for s in videos if not _is_attached_picture(s)] or videos
    try:
        best = container.streams.best("video")
    except Exception:  # older PyAV
        best = None
    if best is not None and best in candidates:
        return best
    return candidates[0]


def _is_attached_picture(stream: VideoStream) -> bool:
    disposition = getattr(stream, "disposition", None)
    try:
        return bool(disposition is not None and disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False
