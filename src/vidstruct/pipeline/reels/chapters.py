"""The reel's WebVTT chapters track: cue ``part-<k>`` from the part's reel start to its end, titled by its label."""

from __future__ import annotations

from pathlib import Path

from vidstruct.atomic import write_text_atomic
from vidstruct.pipeline.reels.plan import ReelPlan
from vidstruct.structure.exports.webvtt import timestamp

__all__ = ["chapters_vtt", "write_chapters"]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def chapters_vtt(plan: ReelPlan) -> str:
    """WebVTT text: one chapter cue per part, times in reel seconds (``HH:MM:SS.mmm``)."""
    blocks = ["WEBVTT"]
    for k, part in enumerate(plan.parts):
        blocks.append(
            f"part-{k}\n{timestamp(part.reel_start_s)} --> {timestamp(part.reel_end_s)}\n{_escape(part.label)}"
        )
    return "\n\n".join(blocks) + "\n"


def write_chapters(plan: ReelPlan, path: str | Path) -> Path:
    """Write :func:`chapters_vtt` atomically to ``path``; returns it."""
    return write_text_atomic(Path(path), chapters_vtt(plan))
