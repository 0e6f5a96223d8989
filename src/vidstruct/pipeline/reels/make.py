"""One reel from one structure document: choose, plan, cut, write chapters."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidstruct.io import VideoReader
from vidstruct.io.errors import VideoDecodeError
from vidstruct.pipeline.reels.chapters import write_chapters
from vidstruct.pipeline.reels.cut import StopFn, write_reel
from vidstruct.pipeline.reels.errors import ReelError
from vidstruct.pipeline.reels.plan import ReelPlan, plan_reel
from vidstruct.pipeline.reels.select import ReelPick, choose_segments
from vidstruct.structure.files import Structure

__all__ = ["Reel", "chapters_path", "cut_reel", "make_reel", "source_video"]


@dataclass(frozen=True)
class Reel:
    """A written reel: the video file, its chapters track, and the plan it followed."""

    path: Path
    chapters: Path
    source: Path
    plan: ReelPlan

    def to_json(self) -> dict[str, Any]:
        """Summary for people: paths, mode (and why), duration (seconds, ms), frame count, parts."""
        return {
            "out": str(self.path),
            "chapters": str(self.chapters),
            "source": str(self.source),
            "mode": self.plan.mode,
            "reason": self.plan.reason,
            "duration_s": round(self.plan.duration_s, 3),
            "frames": self.plan.num_frames,
            "parts": [p.to_json() for p in self.plan.parts],
        }


def chapters_path(out: str | os.PathLike[str]) -> Path:
    """Where a reel's chapters go: ``dir/name.mp4`` → ``dir/name.chapters.vtt``."""
    path = Path(out)
    return path.with_name(f"{path.stem if path.suffix else path.name}.chapters.vtt")


def source_video(structure: Structure, video: str | os.PathLike[str] | None = None) -> Path:
    """The video a document describes: ``video`` if given, else its ``video.path`` (absolute, or relative to the
    working folder, then to the document's folder). :class:`ReelError` when the file is gone."""
    if video is not None:
        candidates = [Path(video)]
    else:
        given = Path(structure.document["video"]["path"])
        candidates = [given] if given.is_absolute() else [Path.cwd() / given, structure.folder / given]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise ReelError(f"video file {candidates[-1]} not found (named by {structure.path}); pass the video explicitly")
    return found


def make_reel(
    structure: Structure,
    out: str | os.PathLike[str],
    *,
    label: str | None = None,
    segment_ids: Sequence[int] | None = None,
    min_score: float = 0.0,
    max_s: float | None = None,
    video: str | os.PathLike[str] | None = None,
) -> Reel:
    """Cut the chosen segments of ``structure``'s video into ``out`` (MP4) and write ``<stem>.chapters.vtt`` beside it.

    Selection: :func:`~vidstruct.pipeline.reels.select.choose_segments`; mode (stream copy or H.264):
    :mod:`vidstruct.pipeline.reels.plan`. ``max_s`` in seconds. User errors raise :class:`ReelError`
    (or the io layer's :class:`~vidstruct.io.errors.VideoDecodeError` for an unreadable video).
    """
    picks = choose_segments(
        structure.document["segments"], label=label, segment_ids=segment_ids, min_score=min_score, max_s=max_s
    )
    return cut_reel(picks, source_video(structure, video), out)


def cut_reel(
    picks: Sequence[ReelPick],
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    should_stop: StopFn | None = None,
) -> Reel:
    """Cut ``picks`` (time order, non-overlapping: :func:`choose_segments`) from the video ``source`` into ``out``
    and write ``<stem>.chapters.vtt`` beside it (the reel first, then its chapters). ``should_stop(done_frames,
    total_frames)`` is asked before each frame is written: True stops the cut with
    :class:`~vidstruct.pipeline.reels.errors.ReelCanceled`, nothing written (:mod:`vidstruct.pipeline.reels.cut`)."""
    source = Path(source)
    if not source.is_file():
        raise ReelError(f"video file {source} not found")
    with VideoReader(source) as reader:
        index = reader.index
    plan = plan_reel(index, picks, _codec(source))
    path = write_reel(source, index, plan, out, should_stop)
    chapters = write_chapters(plan, chapters_path(out))
    return Reel(Path(path), chapters, source, plan)


def _codec(source: Path) -> str:
    import av

    try:
        with av.open(str(source)) as container:
            return container.streams.video[0].codec_context.name
    except (av.FFmpegError, IndexError) as exc:
        raise VideoDecodeError(str(source), f"cannot read the video stream's codec: {exc}") from None
