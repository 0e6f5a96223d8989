"""Views of a structure document in other tools' formats: one module per format, each ``export(structure, out)``.

``--out PATH`` names the main file; a format that needs a second file writes it beside ``PATH``
as ``<stem>.<role>.<ext>`` (:func:`companion`):

=============== ============================== =============================================
format          ``PATH``                       companion
=============== ============================== =============================================
``webvtt``      chapters track (one cue/shot)  ``<stem>.segments.vtt``: metadata track (segments)
``csv``         flat table (:mod:`.flat_csv`)  -
``activitynet`` ActivityNet submission JSON    -
``ava``         AVA detections CSV (actors)    ``<stem>.label_map.pbtxt``: the action ids
``otio``        OpenTimelineIO ``.otio``       -
``labelstudio`` Label Studio tasks JSON        ``<stem>.labeling.xml``: the labeling config
=============== ============================== =============================================

Every file is written atomically (:mod:`vidstruct.atomic`). A document that lacks what a format
needs (no fps for Label Studio's frame ranges, no class list for AVA action ids) raises
:class:`~vidstruct.structure.errors.StructureError` naming the JSON path.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from vidstruct.structure.files import Structure

__all__ = ["FORMATS", "companion", "export_structure"]

#: format name → module of this package that writes it.
FORMATS: dict[str, str] = {
    "webvtt": "webvtt",
    "csv": "flat_csv",
    "activitynet": "activitynet",
    "ava": "ava",
    "otio": "otio",
    "labelstudio": "labelstudio",
}


def companion(out: str | os.PathLike[str], role: str, ext: str) -> Path:
    """The second file of an export: ``dir/name.vtt`` → ``dir/name.<role>.<ext>`` (``name`` without its suffix)."""
    path = Path(out)
    stem = path.stem if path.suffix else path.name
    return path.with_name(f"{stem}.{role}.{ext}")


def export_structure(structure: Structure, fmt: str, out: str | os.PathLike[str]) -> list[Path]:
    """Write ``structure`` as ``fmt`` (a key of :data:`FORMATS`) to ``out``; returns every file written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    module = importlib.import_module(f"{__name__}.{FORMATS[fmt]}")
    return module.export(structure, Path(out))
