"""Frame-accurate video reader on PyAV.

``VideoReader(path).get_frames([0, 10, 20])`` returns exactly those frames as
uint8 ``[T, H, W, C]`` RGB, in request order (duplicates and any order
allowed); ``get_frames_at([0.5, 1.25])`` returns the frames displayed at
those times (seconds from frame 0). Frame ``i`` is the ``i``-th frame in
presentation order, located by its pts (never by ``i / fps``), so variable
frame rate and B-frames are exact. Rotation metadata is applied; an optional
``short_side`` resize happens during the RGB conversion.

How it is fast:
- a frame index (pts, keyframes) is built once per reader by demuxing only;
- :mod:`vidstruct.io.planner` decides per request between seeking to the
  preceding keyframe and decoding forward, decoding each needed GOP once;
  the decoder position is kept between calls, so reading a video in order
  with successive calls never re-seeks;
- packets of frames nobody asked for are decoded with ``skip_frame=NONREF``
  (non-reference frames are skipped entirely; references still decode);
- only requested frames are converted to RGB, by a reused swscale context,
  straight into the output tensor, whose memory is recycled from outputs
  that died (:mod:`vidstruct.io.frame_buffers`: no page faults per call).

Process safety: the container is opened lazily and reopened when the process
id changes (DataLoader workers after ``fork``), and pickling drops it, so a
reader can live in a dataset shared with worker processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from av import VideoFrame
from av.container import InputContainer
from av.video.stream import VideoStream

from vidstruct.io.container import DEFAULT_MAX_PIXELS, open_video
from vidstruct.io.errors import CorruptVideoError, NoFramesError
from vidstruct.io.frame_buffers import empty_frames
from vidstruct.io.index import FrameIndex, build_frame_index
from vidstruct.io.pixel_format import (
    FrameConverter,
    apply_rotation,
    output_size,
    rotation_quarter_turns,
    usable_cores,
)
from vidstruct.io.planner import DEFAULT_SEEK_COST, plan_decode

log = logging.getLogger(__name__)

# FFmpeg handles (containers, codec and swscale contexts) inherited through fork. Freeing one in the
# child would join worker threads that only exist in the parent and hang forever, so they are kept here
# and never freed; the child opens its own.
_INHERITED_HANDLES: list[tuple[Any, ...]] = []

ThreadType = str  # "AUTO" | "FRAME" | "SLICE" | "NONE"
# frame threading pays off from this many usable cores; below, decoding on one thread per frame (slice
# threading) was faster here: 2 cores, 720p H.264, 8-30% less wall time for whole clips and 20-35% for
# 32 frames spread over a clip (each seek drains frame threads' pipeline)
FRAME_THREADING_MIN_CORES = 4


def default_thread_type() -> ThreadType:
    """FFmpeg threading the reader uses unless told: "AUTO" (frame + slice) on 4+ usable cores, else "SLICE"."""
    return "AUTO" if usable_cores() >= FRAME_THREADING_MIN_CORES else "SLICE"


@dataclass
class DecodeStats:
    """Counters of what a reader did (for tests and benchmarks)."""

    decoded: int = 0  #: frames that came out of the decoder
    converted: int = 0  #: frames converted to RGB
    seeks: int = 0  #: container seeks
    reseeks: int = 0  #: seeks repeated from an earlier keyframe because one landed too late
    fallbacks: int = 0  #: requested frames the decoder never produced, served by the previous frame


class VideoReader:
    """Frame-accurate random access to one video file (PyAV backend).

    - ``short_side``: resize so the shorter side has this many pixels (aspect kept);
    - ``threads``: decoder and swscale threads (0 = FFmpeg's choice; use 1 in DataLoader workers);
    - ``thread_type``: FFmpeg threading ("AUTO", "FRAME", "SLICE", "NONE"; default
      :func:`default_thread_type`);
    - ``max_pixels``: reject streams whose declared width × height is larger;
    - ``apply_rotation``: rotate frames as the display matrix says (default on);
    - ``skip_nonref``: skip decoding non-reference frames that are not requested;
    - ``seek_cost``: frames a seek is worth in the planner's cost model.

    Opening is lazy; errors surface on first use as
    :class:`~vidstruct.io.errors.VideoDecodeError` subclasses.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        short_side: int | None = None,
        threads: int = 0,
        thread_type: ThreadType | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        apply_rotation: bool = True,
        skip_nonref: bool = True,
        seek_cost: int = DEFAULT_SEEK_COST,
    ) -> None:
        self.path = str(path)
        self.short_side = short_side
        self.threads = threads
        self.thread_type = thread_type or default_thread_type()
        self.max_pixels = max_pixels
        self.apply_rotation = apply_rotation
        self.skip_nonref = skip_nonref
        self.seek_cost = seek_cost
        self.stats = DecodeStats()
        self._index: FrameIndex | None = None
        self._rotation: int | None = None
        self._reset_handles()

    # ------------------------------------------------------------------ lifecycle
    def _reset_handles(self) -> None:
        self._pid: int | None = None
        self._container: InputContainer | None = None
        self._stream: VideoStream | None = None
        self._converter: FrameConverter | None = None
        self._sized_converters: dict[tuple[int, int], FrameConverter] = {}  # to_rgb(size=...): (w, h) stored
        self._frames: Iterator[VideoFrame] | None = None  # decoder output from the current position
        self._pos_pts: int | None = None  # pts of the last frame that came out of the decoder
        self._wanted: set[int] = set()  # pts of requested frames (never skipped)
        self._skip_below: int = 0  # packets at or after this pts are never skipped
        self._skip_horizon: int | None = None  # largest pts sent with skip_frame=NONREF since the last seek
        self._errors: list[str] = []

    def _abandon_inherited(self) -> None:
        """Forget handles inherited from a parent process without freeing them (see ``_INHERITED_HANDLES``)."""
        handles = (self._container, self._stream, self._converter, self._frames, *self._sized_converters.values())
        if any(h is not None for h in handles):
            _INHERITED_HANDLES.append(handles)
        self._reset_handles()

    def _open(self) -> tuple[InputContainer, VideoStream]:
        pid = os.getpid()
        if self._container is None or self._pid != pid:
            if self._pid is not None and self._pid != pid:
                self._abandon_inherited()  # opened by the parent before fork: never touch it here
            container, stream = open_video(self.path, max_pixels=self.max_pixels)
            cc = stream.codec_context
            try:
                cc.thread_type = self.thread_type
                cc.thread_count = self.threads
            except (ValueError, AttributeError) as exc:  # pragma: no cover - codec without threading
                log.debug("%s: cannot set threading: %s", self.path, exc)
            self._container, self._stream, self._pid = container, stream, pid
        assert self._stream is not None
        return self._container, self._stream

    def close(self) -> None:
        """Close the container (the frame index is kept; the reader reopens on next use)."""
        if self._pid is not None and self._pid != os.getpid():
            self._abandon_inherited()
            return
        if self._container is not None:
            self._container.close()
        self._reset_handles()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # never raise from a finalizer
            pass

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_container", "_stream", "_converter", "_frames", "_pid", "_pos_pts"):
            state[key] = None
        state["_wanted"], state["_skip_horizon"], state["_errors"], state["_skip_below"] = set(), None, [], 0
        state["_sized_converters"] = {}
        return state

    # ------------------------------------------------------------------ metadata
    @property
    def index(self) -> FrameIndex:
        """The frame index (built on first use by demuxing the whole stream)."""
        if self._index is None:
            container, stream = self._open()
            self._index = build_frame_index(container, stream, self.path)
            self._frames = None  # the container sits at the end now
            self._pos_pts = None
        return self._index

    def __len__(self) -> int:
        return self.index.num_frames

    @property
    def num_frames(self) -> int:
        return self.index.num_frames

    @property
    def duration_s(self) -> float:
        return self.index.duration_s

    @property
    def fps(self) -> float:
        """Average frame rate: frames / duration (exact for variable frame rate too)."""
        return self.index.average_fps

    @property
    def times_s(self) -> np.ndarray:
        """float64 ``[N]``: presentation time of every frame, seconds from frame 0."""
        return self.index.times_s

    def index_at(self, times_s: Sequence[float] | np.ndarray | float) -> np.ndarray:
        """Frame indices displayed at ``times_s`` (seconds from frame 0)."""
        return self.index.index_at(times_s)

    # ------------------------------------------------------------------ decoding
    def get_frames(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``[T, H, W, C]`` RGB frames at ``indices`` (request order, duplicates allowed)."""
        idx = _as_index_array(indices)
        index = self.index
        index.check_indices(idx)
        if idx.size == 0:
            h, w = self._output_hw()
            return torch.empty((0, h, w, 3), dtype=torch.uint8)
        uniq, inverse = np.unique(idx, return_inverse=True)
        # output memory is recycled from arrays that died (frame_buffers): fresh pages cost a fault each
        out: np.ndarray | None = None
        for j, (_, frame) in enumerate(self._decode_targets(uniq)):
            if out is None:
                out = empty_frames((uniq.size, *self._stored_hw(frame), 3))
            self._convert_into(frame, out[j])
        assert out is not None
        if not (uniq.size == idx.size and np.array_equal(uniq, idx)):
            out = out[inverse.reshape(-1)]
        return self._rotate(torch.from_numpy(out))

    def get_frames_at(self, times_s: Sequence[float] | np.ndarray | float) -> torch.Tensor:
        """uint8 ``[T, H, W, C]`` RGB frames displayed at ``times_s`` (seconds from frame 0)."""
        return self.get_frames(self.index_at(times_s))

    def iter_frames(self, indices: Sequence[int] | np.ndarray) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(index, uint8 [H, W, C])`` for sorted unique ``indices``, one frame in memory at a time."""
        for t, frame in self._decode_sorted(indices):
            yield t, self.to_rgb(frame)

    def iter_decoded(self, indices: Sequence[int] | np.ndarray) -> Iterator[tuple[int, VideoFrame]]:
        """Yield ``(index, decoded PyAV frame)`` for sorted unique ``indices``, not converted yet: a consumer that
        needs frames at several sizes converts each with :meth:`to_rgb` (frames it does not need, never). A frame
        is valid until the next one is yielded."""
        return self._decode_sorted(indices)

    def to_rgb(self, frame: VideoFrame, size: tuple[int, int] | None = None) -> torch.Tensor:
        """uint8 ``[H, W, 3]`` RGB of a frame of :meth:`iter_decoded`, in display orientation.

        ``size=None``: the reader's output size (``short_side``); ``(width, height)``: that size as displayed,
        aspect ratio not kept, scaled by swscale straight from the decoded YUV planes (area averaging when
        shrinking), which costs less than converting at a larger size and resizing the RGB frame.
        """
        if size is None:
            image = empty_frames((*self._stored_hw(frame), 3))
            self._convert_into(frame, image)
        else:
            converter = self._sized_converter(frame, size)
            image = empty_frames((converter.height, converter.width, 3))
            converter.convert_into(frame, image)
            self.stats.converted += 1
        if not (self.apply_rotation and rotation_quarter_turns(self._rotation)):
            return torch.from_numpy(image)  # nothing to rotate (most videos): no batch dimension to add and drop
        return self._rotate(torch.from_numpy(image).unsqueeze(0))[0]

    def to_rgb_into(self, frame: VideoFrame, size: tuple[int, int], out: np.ndarray) -> None:
        """:meth:`to_rgb` at ``size`` (``(width, height)`` as displayed) written into ``out`` (uint8 ``[height,
        width, 3]``, C-contiguous): no array or tensor is made for the frame unless it must be rotated."""
        converter = self._sized_converter(frame, size)
        if self.apply_rotation and rotation_quarter_turns(self._rotation):
            out[...] = self.to_rgb(frame, size).numpy()
            return
        converter.convert_into(frame, out)
        self.stats.converted += 1

    def _sized_converter(self, frame: VideoFrame, size: tuple[int, int]) -> FrameConverter:
        """The converter to ``size`` (``(width, height)`` as displayed) in stored orientation."""
        if self._rotation is None:
            self._rotation = _frame_rotation(frame)
        width, height = size
        if self.apply_rotation and rotation_quarter_turns(self._rotation) % 2:
            width, height = height, width  # stored orientation: rotation swaps them back
        converter = self._sized_converters.get((width, height))
        if converter is None:
            converter = self._sized_converters[width, height] = FrameConverter(width, height, threads=self.threads)
        return converter

    # Low-level access for writers that place frames themselves (e.g. straight into window buffers):
    # frames come in stored orientation at the output size; ``_rotate`` finishes a [T, H, W, C] batch.
    def _decode_sorted(self, indices: Sequence[int] | np.ndarray) -> Iterator[tuple[int, VideoFrame]]:
        """``(index, decoded frame)`` for the unique ``indices`` in increasing order."""
        uniq = np.unique(_as_index_array(indices))
        self.index.check_indices(uniq)
        return self._decode_targets(uniq)

    def _stored_hw(self, frame: VideoFrame) -> tuple[int, int]:
        """``(height, width)`` of converted frames before rotation."""
        converter = self._get_converter(frame)
        return converter.height, converter.width

    def _convert_into(self, frame: VideoFrame, out: np.ndarray) -> None:
        """Convert ``frame`` to RGB into ``out`` (uint8 ``[H, W, 3]``, stored orientation)."""
        if self._rotation is None:
            self._rotation = _frame_rotation(frame)
        self._get_converter(frame).convert_into(frame, out)
        self.stats.converted += 1

    def verify(self, start: int = 0, stop: int | None = None) -> int:
        """Decode frames ``[start, stop)`` without converting them; return how many decoded.

        Raises :class:`~vidstruct.io.errors.CorruptVideoError` if a frame fails to
        decode or is never produced (``stats.fallbacks`` counts the latter).
        """
        stop = self.num_frames if stop is None else stop
        targets = np.arange(start, stop, dtype=np.int64)
        self.index.check_indices(targets[[0, -1]] if targets.size else targets)
        fallbacks = self.stats.fallbacks
        count = sum(1 for _ in self._decode_targets(targets))
        if self.stats.fallbacks > fallbacks:
            raise CorruptVideoError(
                self.path,
                f"{self.stats.fallbacks - fallbacks} of {targets.size} frames were not produced by the decoder",
            )
        return count

    def _rotate(self, frames: torch.Tensor) -> torch.Tensor:
        if not self.apply_rotation:
            return frames
        return apply_rotation(frames, self._rotation)

    @property
    def rotation(self) -> int:
        """Display rotation in degrees counter-clockwise (decodes frame 0 if not known yet)."""
        if self._rotation is None:
            self.get_frames([0])
        return int(self._rotation or 0)

    def _output_hw(self) -> tuple[int, int]:
        """Output ``(height, width)`` as displayed (resized, then rotated)."""
        _, stream = self._open()
        w, h = output_size(stream.codec_context.width, stream.codec_context.height, self.short_side)
        if self.apply_rotation and rotation_quarter_turns(self.rotation) % 2:
            return w, h
        return h, w

    def _get_converter(self, frame: VideoFrame) -> FrameConverter:
        if self._converter is None:
            w, h = output_size(frame.width, frame.height, self.short_side)
            self._converter = FrameConverter(w, h, threads=self.threads)
        return self._converter

    def _frame_source(self, packets: Iterator[av.Packet], first: av.Packet | None) -> Iterator[VideoFrame]:
        """Decoded frames (presentation order) from ``first`` and the rest of the ``packets`` iterator."""
        _, stream = self._open()
        cc = stream.codec_context
        skip_mode: str | None = None
        packet = first
        while packet is not None:
            if self.skip_nonref and packet.pts is not None:
                # skip only frames between requested ones: frames past the last request
                # decode fully, so a later call can resume from here
                skippable = packet.pts < self._skip_below and packet.pts not in self._wanted
                mode = "NONREF" if skippable else "DEFAULT"
                if mode != skip_mode:
                    cc.skip_frame = mode
                    skip_mode = mode
                if skippable and (self._skip_horizon is None or packet.pts > self._skip_horizon):
                    self._skip_horizon = packet.pts
            try:
                frames = cc.decode(packet)
            except av.FFmpegError as exc:
                self._errors.append(str(exc))
                log.debug("%s: packet pts=%s failed to decode: %s", self.path, packet.pts, exc)
                frames = []
            for frame in frames:
                self.stats.decoded += 1
                yield frame
            packet = self._next_packet(packets)

    def _next_packet(self, packets: Iterator[av.Packet]) -> av.Packet | None:
        try:
            return next(packets, None)
        except av.FFmpegError as exc:
            self._errors.append(f"demuxing failed: {exc}")
            return None

    def _seek(self, key: int) -> None:
        """Position the demuxer at keyframe ``key`` (or before it) and restart the decoder.

        Demuxers seek by pts (Matroska), by dts (MPEG-TS) or by an index (mp4); the
        first packet after a pts seek tells whether it landed past the keyframe in
        decode order, in which case the seek is repeated by dts, then from the start.
        """
        container, stream = self._open()
        index = self.index
        key_dts = int(index.dts[key])
        packets: Iterator[av.Packet] = iter(())
        first: av.Packet | None = None
        for attempt, ts in enumerate((int(index.pts[key]), key_dts, None)):
            if ts is None:  # last resort: the very start of the stream
                container.seek(0, backward=True, any_frame=False)
            else:
                container.seek(ts, stream=stream, backward=True, any_frame=False)
            self.stats.seeks += 1
            self.stats.reseeks += attempt > 0
            packets = container.demux(stream)
            first = self._next_packet(packets)
            while first is not None and first.size == 0 and first.dts is None:  # flush marker: at the end
                first = self._next_packet(packets)
            if first is None or first.dts is None or first.dts <= key_dts:
                break
        self._frames = self._frame_source(packets, first)
        self._pos_pts = None
        self._skip_horizon = None
        self._errors.clear()

    def _position(self, targets: np.ndarray) -> int | None:
        """Index of the last decoded frame if decoding can resume from it, else ``None``."""
        if self._frames is None or self._pos_pts is None:
            return None
        index = self.index
        pos = int(np.searchsorted(index.pts, self._pos_pts, side="right")) - 1
        if self._skip_horizon is not None:
            ahead = targets[targets > pos]
            if ahead.size and index.pts[ahead[0]] <= self._skip_horizon:
                return None  # a requested frame may already have gone to the decoder as skippable
        return pos

    def _decode_targets(self, targets: np.ndarray) -> Iterator[tuple[int, VideoFrame]]:
        """Yield ``(index, frame)`` for sorted unique ``targets``, following the decode plan."""
        index = self.index
        runs = plan_decode(targets, index.gop_start(targets), self._position(targets), self.seek_cost)
        self._wanted = set(index.pts[targets].tolist())
        self._skip_below = int(index.pts[targets[-1]]) if targets.size else 0
        keys = index.keyframe_indices
        for run in runs:
            key = run.seek_to
            if key is not None:
                self._seek(key)
            yield from self._produce(run.targets, key, keys)

    def _produce(self, targets: np.ndarray, key: int | None, keys: np.ndarray) -> Iterator[tuple[int, VideoFrame]]:
        index = self.index
        wanted = index.pts[targets].tolist()
        k, n = 0, len(wanted)
        prev: VideoFrame | None = None
        just_seeked = key is not None
        while k < n:
            assert self._frames is not None
            frame = next(self._frames, None)
            if frame is None:  # end of stream: the decoder is drained
                self._frames = None
                break
            fpts = frame.pts if frame.pts is not None else frame.dts
            if fpts is None:
                continue
            if just_seeked and fpts > wanted[0] and key is not None and key > 0:
                # the seek landed after the first target's keyframe: go back one keyframe
                key = int(keys[max(np.searchsorted(keys, key, side="left") - 1, 0)])
                self.stats.reseeks += 1
                self._seek(key)
                continue
            just_seeked = False
            self._pos_pts = fpts
            while k < n and wanted[k] < fpts:  # the decoder skipped a requested frame
                if prev is None or self._errors:
                    break
                self.stats.fallbacks += 1
                log.warning("%s: frame %d not produced by the decoder; using the previous frame", self.path, targets[k])
                yield int(targets[k]), prev
                k += 1
            if k < n and wanted[k] < fpts:
                break  # missing frame that cannot be substituted
            if k < n and wanted[k] == fpts:
                yield int(targets[k]), frame
                k += 1
            prev = frame
        if k < n:
            self._frames = None
            missing = int(targets[k])
            reason = f"; decoder error: {self._errors[-1]}" if self._errors else ""
            if self.stats.decoded == 0:
                raise NoFramesError(self.path, f"no frame of the video could be decoded{reason}")
            raise CorruptVideoError(self.path, f"frame {missing} of {index.num_frames} could not be decoded{reason}")


def _frame_rotation(frame: VideoFrame) -> int:
    try:
        return int(round(frame.rotation or 0))
    except (AttributeError, TypeError, ValueError):  # older PyAV or no side data
        return 0


def _as_index_array(indices: Sequence[int] | np.ndarray | torch.Tensor | int) -> np.ndarray:
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    arr = np.asarray(indices)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"frame indices must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64).reshape(-1)


def read_frames(
    path: str | Path,
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    times_s: Sequence[float] | np.ndarray | None = None,
    short_side: int | None = None,
    **reader_kwargs: Any,
) -> torch.Tensor:
    """One-shot: uint8 ``[T, H, W, C]`` frames of ``path`` by index or by time (exactly one of them)."""
    if (indices is None) == (times_s is None):
        raise ValueError("give exactly one of indices= or times_s=")
    with VideoReader(path, short_side=short_side, **reader_kwargs) as reader:
        if indices is not None:
            return reader.get_frames(indices)
        return reader.get_frames_at(times_s)  # type: ignore[arg-type]
