"""OpenTimelineIO timeline of a structure: one clip of the whole video, markers for shots and segments.

The timeline (named after the video id) has one video track holding one clip whose media is the
video (``ExternalReference``: a ``file://`` URL for an absolute ``video.path``, the path as stored
otherwise) with its whole duration as available range. Markers on the clip, in seconds on the
video's frame rate (1000 per second when ``fps`` is unknown):

- one per shot, named ``Shot <index + 1>``, colour ``RED``, spanning the shot;
- one per segment, named after its label, colour ``GREEN``, spanning the segment.

Each marker's ``metadata["vidstruct"]`` holds ``kind`` (``shot`` / ``segment``), ``index`` (shot
index / segment position), the score (``confidence`` / ``score``), ``model`` and, for segments,
``source`` and ``shot``. Saved as ``otio_json`` (``.otio``); OpenTimelineIO's adapter plugins
(e.g. ``otio-cmx3600-adapter``, ``otio-fcp-adapter``) turn it into EDL or FCP XML.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import opentimelineio as otio

from vidstruct.atomic import write_text_atomic
from vidstruct.structure.builders import StructureDocument
from vidstruct.structure.errors import StructureError
from vidstruct.structure.files import Structure

__all__ = ["export", "timeline"]

_MS_RATE = 1000.0


def _range(start_s: float, end_s: float, rate: float) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(
        otio.opentime.RationalTime.from_seconds(start_s, rate),
        otio.opentime.RationalTime.from_seconds(end_s - start_s, rate),
    )


def _duration(doc: StructureDocument, source: str) -> float:
    if doc["video"]["duration_s"] is not None:
        return doc["video"]["duration_s"]
    ends = [x["end_s"] for kind in ("shots", "segments", "windows") for x in doc[kind]]
    if not ends:
        raise StructureError(
            source,
            "$.video.duration_s",
            "the timeline needs the video's duration; it is null and no shot, segment or window gives an end",
        )
    return max(ends)


def _target_url(path: str) -> str:
    pure = PurePath(path)
    return Path(path).as_uri() if pure.is_absolute() else path


def timeline(doc: StructureDocument, source: str = "<structure>") -> otio.schema.Timeline:
    """The timeline of ``doc`` (see the module docstring)."""
    video = doc["video"]
    rate = video["fps"] or _MS_RATE
    media = otio.schema.ExternalReference(
        target_url=_target_url(video["path"]), available_range=_range(0.0, _duration(doc, source), rate)
    )
    clip = otio.schema.Clip(name=video["id"], media_reference=media, source_range=media.available_range)
    clip.metadata["vidstruct"] = {"video_sha256": video["sha256"], "format": doc["format"]}
    for shot in doc["shots"]:
        meta = {"kind": "shot", "index": shot["index"], "confidence": shot["confidence"], "model": shot["model"]}
        clip.markers.append(
            otio.schema.Marker(
                name=f"Shot {shot['index'] + 1}",
                marked_range=_range(shot["start_s"], shot["end_s"], rate),
                color=otio.schema.MarkerColor.RED,
                metadata={"vidstruct": meta},
            )
        )
    for i, seg in enumerate(doc["segments"]):
        meta = {"kind": "segment", "index": i, "score": seg["score"], "model": seg["model"]}
        meta.update(source=seg["source"], shot=seg["shot"])
        clip.markers.append(
            otio.schema.Marker(
                name=seg["label"],
                marked_range=_range(seg["start_s"], seg["end_s"], rate),
                color=otio.schema.MarkerColor.GREEN,
                metadata={"vidstruct": meta},
            )
        )
    track = otio.schema.Track(name="video", kind=otio.schema.TrackKind.Video)
    track.append(clip)
    out = otio.schema.Timeline(name=video["id"])
    out.tracks.append(track)
    return out


def export(structure: Structure, out: Path) -> list[Path]:
    """Write the timeline to ``out`` as OTIO JSON."""
    text = otio.adapters.write_to_string(timeline(structure.document, str(structure.path)), "otio_json")
    write_text_atomic(out, text)
    return [out]
