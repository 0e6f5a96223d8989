"""Label Studio import of a structure's segments, as video timeline predictions for human correction.

``PATH``: a JSON list with one task (Label Studio's JSON tasks format)::

    [{"data": {"video": VIDEO_PATH, "video_id": ID},
      "predictions": [{"model_version": NAME, "score": MEAN_SCORE,
                       "result": [{"id": "segment-<position>", "from_name": "actions", "to_name": "video",
                                   "type": "timelinelabels", "score": SCORE,
                                   "value": {"ranges": [{"start": FIRST_FRAME, "end": LAST_FRAME}],
                                             "timelinelabels": [LABEL]}}, ...]}]}]

one prediction per segment model (``model_version``: the model's name and key). ``TimelineLabels``
ranges count video frames from 1, both ends included (frame ``n`` shows ``[(n - 1) / fps, n / fps)``):
a segment ``[start_s, end_s)`` covers the frames whose middle lies inside it (at least one frame), so the
video's ``fps`` is needed. ``data.video`` is ``video.path`` as stored: point it at a URL Label Studio can serve
(e.g. ``/data/local-files/?d=...``) before importing.

``<stem>.labeling.xml``: the labeling config these predictions fit: a ``<Video name="video">`` with the
video's ``frameRate`` and a ``<TimelineLabels name="actions" toName="video">`` with one ``<Label>``
per class of the segment models (or per label used, for models without classes).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from vidstruct.atomic import write_text_atomic
from vidstruct.structure.builders import StructureDocument
from vidstruct.structure.errors import StructureError
from vidstruct.structure.exports import companion
from vidstruct.structure.files import Structure

__all__ = ["FROM_NAME", "TO_NAME", "export", "frame_range", "labeling_config", "tasks"]

FROM_NAME = "actions"
TO_NAME = "video"
_EPS = 1e-6  # frames: times are rounded to the millisecond, so a middle "at" a bound may be off by float noise


def frame_range(start_s: float, end_s: float, fps: float) -> tuple[int, int]:
    """1-based inclusive numbers of the frames whose middle lies in ``[start_s, end_s)`` seconds at ``fps``.

    Frame ``n`` (1-based) shows ``[(n - 1) / fps, n / fps)``; at least one frame is returned.
    """
    first = math.ceil(start_s * fps - 0.5 - _EPS) + 1
    last = math.ceil(end_s * fps - 0.5 - _EPS)
    return first, max(first, last)


def _fps(doc: StructureDocument, source: str) -> float:
    fps = doc["video"]["fps"]
    if fps is None:
        raise StructureError(
            source, "$.video.fps", "Label Studio timelines count frames: the video's fps is needed, it is null"
        )
    return fps


def tasks(doc: StructureDocument, source: str = "<structure>") -> list[dict[str, Any]]:
    """The task list (one task; see the module docstring)."""
    fps = _fps(doc, source)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for i, seg in enumerate(doc["segments"]):
        start, end = frame_range(seg["start_s"], seg["end_s"], fps)
        by_model.setdefault(seg["model"], []).append(
            {
                "id": f"segment-{i}",
                "from_name": FROM_NAME,
                "to_name": TO_NAME,
                "type": "timelinelabels",
                "score": seg["score"],
                "value": {"ranges": [{"start": start, "end": end}], "timelinelabels": [seg["label"]]},
            }
        )
    predictions = [
        {
            "model_version": f"{doc['models'][key]['name']} ({key})",
            "score": round(sum(r["score"] for r in result) / len(result), 6),
            "result": result,
        }
        for key, result in by_model.items()
    ]
    return [{"data": {"video": doc["video"]["path"], "video_id": doc["video"]["id"]}, "predictions": predictions}]


def _labels(doc: StructureDocument) -> list[str]:
    out: dict[str, None] = {}
    for key in dict.fromkeys(s["model"] for s in doc["segments"]):
        classes = doc["models"][key]["classes"]
        used = classes if classes is not None else [s["label"] for s in doc["segments"] if s["model"] == key]
        out.update(dict.fromkeys(used))
    return list(out)


def labeling_config(doc: StructureDocument, source: str = "<structure>") -> str:
    """The Label Studio labeling config (XML) matching :func:`tasks`."""
    fps = _fps(doc, source)
    labels = "".join(f"    <Label value={quoteattr(name)}/>\n" for name in _labels(doc))
    return (
        "<View>\n"
        f'  <Video name="{TO_NAME}" value="$video" frameRate="{fps}" timelineHeight="120"/>\n'
        f'  <TimelineLabels name="{FROM_NAME}" toName="{TO_NAME}">\n'
        f"{labels}"
        "  </TimelineLabels>\n"
        "</View>\n"
    )


def export(structure: Structure, out: Path) -> list[Path]:
    """Write the tasks to ``out`` and the labeling config to ``<stem>.labeling.xml``."""
    source = str(structure.path)
    config = companion(out, "labeling", "xml")
    write_text_atomic(out, json.dumps(tasks(structure.document, source), indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(config, labeling_config(structure.document, source))
    return [out, config]
