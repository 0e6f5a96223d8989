"""``probe(path)``: what a video file holds, cheaply.

Reads the container header and decodes the first frame only (to read its
rotation and to prove the stream decodes). The frame count is exact where
the container stores a per-frame index (mp4 / mov sample tables) and
otherwise estimated as ``duration × average fps`` and flagged
(``num_frames_exact=False``); ``probe(path, exact=True)`` demuxes every
packet (no decoding) to count exactly. When the header gives nothing to
estimate from (no duration, as in live-streamed WebM / Matroska such as
browser MediaRecorder output, or no frame rate), that packet scan runs
anyway: frame count, duration and average fps are then measured, never
reported as 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from vidstruct.io.container import DEFAULT_MAX_PIXELS, open_video
from vidstruct.io.errors import CorruptVideoError, NoFramesError
from vidstruct.io.index import build_frame_index
from vidstruct.io.pixel_format import rotation_quarter_turns

_INDEXED_FORMATS = ("mov", "mp4")
# decode at most this many packets looking for the first frame
_MAX_PACKETS_FOR_FIRST_FRAME = 256


@dataclass(frozen=True)
class VideoInfo:
    """Facts about one video stream. Times in seconds, sizes in pixels as displayed.

    - ``width`` / ``height``: after rotation (what the reader returns);
    - ``rotation``: display rotation, degrees counter-clockwise (``-90``: rotate 90° clockwise);
    - ``fps_average``: frames / duration; ``fps_nominal``: the stream's base rate;
    - ``num_frames_exact``: ``False`` when ``num_frames`` is estimated from duration × fps;
    - ``start_s``: presentation time of frame 0 on the container clock (the
      reader's times are relative to it).
    """

    path: str
    container: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    rotation: int
    duration_s: float
    fps_average: float
    fps_nominal: float
    num_frames: int
    num_frames_exact: bool
    start_s: float
    has_audio: bool
    bit_rate: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(path: str | Path, *, exact: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Describe the video at ``path``; typed :class:`~vidstruct.io.errors.VideoDecodeError` on failure."""
    container, stream = open_video(path, max_pixels=max_pixels)
    try:
        return _probe(container, stream, str(path), exact)
    finally:
        container.close()


def _rate(value: Fraction | None) -> float:
    return float(value) if value else 0.0


def _probe(container: InputContainer, stream: VideoStream, path: str, exact: bool) -> VideoInfo:
    time_base = stream.time_base
    cc = stream.codec_context
    has_audio = any(s.type == "audio" for s in container.streams)
    fmt = container.format.name if container.format is not None else ""
    duration_s = float(stream.duration * time_base) if stream.duration and time_base else 0.0
    if duration_s <= 0 and container.duration:
        duration_s = container.duration / av.time_base
    start_s = float(stream.start_time * time_base) if stream.start_time is not None and time_base else 0.0
    fps_nominal = _rate(stream.base_rate) or _rate(stream.guessed_rate)
    fps_average = _rate(stream.average_rate)

    num_frames, frames_exact = _indexed_count(stream, fmt, path)
    rate = fps_average or fps_nominal
    # nothing to estimate from (live / streamed WebM and Matroska, e.g. browser MediaRecorder output,
    # state no duration): measure instead of reporting 0 frames and 0 s
    unknown = num_frames is None and (duration_s <= 0 or rate <= 0)
    if exact or unknown:
        index = build_frame_index(container, stream, path)
        num_frames, frames_exact = index.num_frames, True
        duration_s, start_s = index.duration_s, index.start_s
        fps_average = index.average_fps
        container.seek(int(index.pts[0]), stream=stream, backward=True)  # back to frame 0
    elif num_frames is None:
        num_frames, frames_exact = max(0, round(duration_s * rate)), False
    if num_frames == 0 and frames_exact:
        raise NoFramesError(path, "the video stream holds zero frames")
    if fps_average <= 0 and duration_s > 0 and num_frames:
        fps_average = num_frames / duration_s

    first = _first_frame(container, stream, path)
    rotation = int(round(first.rotation or 0)) if hasattr(first, "rotation") else 0
    width, height = cc.width or first.width, cc.height or first.height
    if rotation_quarter_turns(rotation) % 2 == 1:
        width, height = height, width
    return VideoInfo(
        path=path,
        container=fmt,
        codec=cc.name,
        pix_fmt=cc.pix_fmt or first.format.name,
        width=int(width),
        height=int(height),
        rotation=rotation,
        duration_s=duration_s,
        fps_average=fps_average,
        fps_nominal=fps_nominal,
        num_frames=int(num_frames),
        num_frames_exact=bool(frames_exact),
        start_s=start_s,
        has_audio=has_audio,
        bit_rate=int(container.bit_rate or 0),
    )


def _indexed_count(stream: VideoStream, fmt: str, path: str) -> tuple[int | None, bool]:
    """Exact frame count from an mp4/mov sample table (no I/O), else ``(None, False)``.

    Also catches truncated files: a sample whose bytes lie past the end of the file.
    """
    if not any(name in fmt for name in _INDEXED_FORMATS):
        return None, False
    try:
        entries = stream.index_entries
        count, end = 0, 0
        for entry in entries:
            count += not entry.is_discard
            end = max(end, entry.pos + entry.size)
    except AttributeError:  # older PyAV: the header count is the sample count
        count, end = stream.frames or 0, 0
    size = Path(path).stat().st_size
    if end > size:
        raise CorruptVideoError(path, f"truncated: frame data extends to byte {end} but the file has {size} bytes")
    if count == 0 and stream.frames:
        return stream.frames, True
    return count, True


def _first_frame(container: InputContainer, stream: VideoStream, path: str) -> av.VideoFrame:
    errors: list[str] = []
    packets = 0
    try:
        for packet in container.demux(stream):
            packets += 1
            try:
                frames = stream.codec_context.decode(packet)
            except av.FFmpegError as exc:
                errors.append(str(exc))
                frames = []
            if frames:
                return frames[0]
            if packets >= _MAX_PACKETS_FOR_FIRST_FRAME:
                break
    except av.FFmpegError as exc:
        raise CorruptVideoError(path, f"demuxing failed: {exc}") from None
    detail = f"; last decoder error: {errors[-1]}" if errors else ""
    raise NoFramesError(path, f"no decodable frame in the first {packets} packets{detail}")
