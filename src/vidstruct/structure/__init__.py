"""The ``vidstruct.structure/1`` document: what ``vidstruct analyze`` writes for one video.

``OUT/VIDEO_ID/structure.json`` (this format) + ``embeddings.npy`` (float32 ``[windows, dim]``)
+ ``thumbs/*.jpg``. The JSON Schema ships in the package (:mod:`.schema`,
``vidstruct schema structure``); :mod:`.rules` adds what a schema cannot say;
:mod:`.builders` makes the parts; :mod:`.files` writes and reads a folder; :mod:`.exports`
turns a document into other formats (WebVTT, CSV, ActivityNet, AVA, OpenTimelineIO, Label Studio).
"""

from vidstruct.structure.builders import (
    ActorRecord,
    EmbeddingsRecord,
    LabelProb,
    ModelRecord,
    ProfileRecord,
    SegmentRecord,
    ShotRecord,
    StructureDocument,
    ThumbnailRecord,
    VideoRecord,
    WindowRecord,
    actor_record,
    embeddings_record,
    model_record,
    probability,
    profile_record,
    relative_path,
    seconds,
    segment_record,
    shot_record,
    shots_from_cuts,
    structure_document,
    thumbnail_record,
    video_record,
    window_record,
)
from vidstruct.structure.errors import StructureError, json_path
from vidstruct.structure.files import STRUCTURE_FILE, Structure, parse_structure, read_structure, write_structure
from vidstruct.structure.schema import FORMAT, SCHEMA_FILE, load_schema, schema_text
from vidstruct.structure.validate import check_format, validate_structure

__all__ = [
    "FORMAT",
    "SCHEMA_FILE",
    "STRUCTURE_FILE",
    "ActorRecord",
    "EmbeddingsRecord",
    "LabelProb",
    "ModelRecord",
    "ProfileRecord",
    "SegmentRecord",
    "ShotRecord",
    "Structure",
    "StructureDocument",
    "StructureError",
    "ThumbnailRecord",
    "VideoRecord",
    "WindowRecord",
    "actor_record",
    "check_format",
    "embeddings_record",
    "json_path",
    "load_schema",
    "model_record",
    "parse_structure",
    "probability",
    "profile_record",
    "read_structure",
    "relative_path",
    "schema_text",
    "seconds",
    "segment_record",
    "shot_record",
    "shots_from_cuts",
    "structure_document",
    "thumbnail_record",
    "validate_structure",
    "video_record",
    "window_record",
    "write_structure",
]
