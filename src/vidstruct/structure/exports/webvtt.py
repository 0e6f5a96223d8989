"""WebVTT tracks of a structure: chapters (one cue per shot) and metadata (one JSON cue per segment).

- ``PATH`` (chapters, ``<track kind="chapters">``): cue ``shot-<index>`` titled ``Shot <index + 1>``
  from the shot's start to its end;
- ``<stem>.segments.vtt`` (metadata, ``<track kind="metadata">``): cue ``segment-<position>`` per
  segment, sorted by start time (WebVTT requires it; the identifier keeps the position in
  ``segments``), whose text is one line of JSON ``{"label", "score", "source", "model", "shot"}``
  with ``<``, ``>`` and ``&`` written as JSON escapes (so no cue text can end a cue or be read as markup).

Timestamps are ``HH:MM:SS.mmm``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vidstruct.atomic import write_text_atomic
from vidstruct.structure.builders import StructureDocument
from vidstruct.structure.exports import companion
from vidstruct.structure.files import Structure

__all__ = ["chapters_vtt", "export", "segments_vtt", "timestamp"]


def timestamp(t: float) -> str:
    """Seconds as a WebVTT timestamp ``HH:MM:SS.mmm`` (rounded to the millisecond)."""
    ms = round(t * 1000)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt(cues: Iterable[tuple[str, float, float, str]]) -> str:
    blocks = ["WEBVTT"]
    for ident, start, end, text in cues:
        blocks.append(f"{ident}\n{timestamp(start)} --> {timestamp(end)}\n{text}")
    return "\n\n".join(blocks) + "\n"


def chapters_vtt(doc: StructureDocument) -> str:
    """The chapters track: one cue per shot."""
    return _vtt(
        (f"shot-{s['index']}", s["start_s"], s["end_s"], _escape_text(f"Shot {s['index'] + 1}")) for s in doc["shots"]
    )


def _payload(seg: dict[str, Any]) -> str:
    data = {k: seg[k] for k in ("label", "score", "source", "model", "shot")}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def segments_vtt(doc: StructureDocument) -> str:
    """The metadata track: one JSON cue per segment, sorted by (start, end, position)."""
    order = sorted(
        range(len(doc["segments"])), key=lambda i: (doc["segments"][i]["start_s"], doc["segments"][i]["end_s"], i)
    )
    segs = doc["segments"]
    return _vtt((f"segment-{i}", segs[i]["start_s"], segs[i]["end_s"], _payload(dict(segs[i]))) for i in order)


def export(structure: Structure, out: Path) -> list[Path]:
    """Write the chapters track to ``out`` and the segments track to ``<stem>.segments.vtt`` beside it."""
    segments = companion(out, "segments", "vtt")
    write_text_atomic(out, chapters_vtt(structure.document))
    write_text_atomic(segments, segments_vtt(structure.document))
    return [out, segments]
