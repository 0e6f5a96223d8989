"""ActivityNet submission JSON of a structure's segments (what the official toolkit and ``vidstruct eval`` read).

``{"version": "VERSION 1.3", "results": {VIDEO_ID: [{"label", "score", "segment": [start_s, end_s]}]},
"external_data": {"used": false, "details": ...}}``: every segment, in document order, with its
score (a probability) and the video's ``id`` as the key. ``external_data.used`` is written false:
the document cannot tell what data trained its models, so a challenge submission should set it.
"""

from __future__ import annotations

from pathlib import Path

from vidstruct.eval.temporal.formats import submission_entries, write_anet_submission
from vidstruct.structure.files import Structure

__all__ = ["export"]


def export(structure: Structure, out: Path) -> list[Path]:
    """Write the submission to ``out``."""
    doc = structure.document
    segs = doc["segments"]
    entries = submission_entries(
        [[s["start_s"], s["end_s"]] for s in segs], [s["score"] for s in segs], [s["label"] for s in segs]
    )
    used = sorted({s["model"] for s in segs})
    models = ", ".join(f"{key}={doc['models'][key]['name']}" for key in used) or "none"
    details = f"exported by vidstruct {doc['vidstruct_version']} from {doc['format']}; segment models: {models}"
    write_anet_submission(out, {doc["video"]["id"]: entries}, external_data={"used": False, "details": details})
    return [out]
