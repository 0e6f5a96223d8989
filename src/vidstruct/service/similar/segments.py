"""Delta segments: the windows a sync added to an embedding space since its main graph was written.

Each segment is one file ``DATA/indexes/<space>.delta-<seq>.npz`` written atomically (:mod:`vidstruct.atomic`)
under the space's exclusive lock, with a sequence number one past the last one (segments are never rewritten):

- ``ids``: uint64 ``[n]`` window ids (``windows.id``);
- ``vectors``: float32 ``[n, dim]`` L2-normalised embeddings, row ``i`` of window ``ids[i]``;
- ``meta``: a JSON string ``{version, space, seq, analyses: {analysis id: windows}, dead: [analysis id],
  signature, sha256}``: the analyses whose windows the segment adds, those it marks superseded or deleted, the
  collection signature it was synced at and the SHA-256 of ``ids`` and ``vectors`` (a damaged file is detected).

The main manifest's ``merged_through`` names the last segment its graph holds; older segments are deleted after a
compaction or a rebuild commits.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.atomic import atomic_open

__all__ = ["Segment", "SegmentError", "list_segments", "read_segment", "segment_path", "write_segment"]

VERSION = 1
_NAME = re.compile(r"^(?P<key>.+)\.delta-(?P<seq>\d{8,})\.npz$")


class SegmentError(ValueError):
    """A segment file that cannot be read or fails its checksum."""


@dataclass(frozen=True)
class Segment:
    """One delta segment (see the module doc); ``vectors`` is float32 ``[n, dim]``, ``ids`` uint64 ``[n]``."""

    seq: int
    ids: np.ndarray
    vectors: np.ndarray
    analyses: dict[str, int]
    dead: frozenset[str]
    signature: list[Any] | None


def segment_path(root: Path, key: str, seq: int) -> Path:
    return root / f"{key}.delta-{seq:08d}.npz"


def list_segments(root: Path, key: str) -> list[tuple[int, Path]]:
    """``(seq, path)`` of the space's segment files, oldest first."""
    try:
        names = [p for p in root.iterdir() if p.name.startswith(f"{key}.delta-")]
    except FileNotFoundError:
        return []
    found = []
    for p in names:
        m = _NAME.match(p.name)
        if m and m["key"] == key:
            found.append((int(m["seq"]), p))
    return sorted(found)


def _digest(ids: np.ndarray, vectors: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(ids).tobytes())
    h.update(np.ascontiguousarray(vectors).tobytes())
    return h.hexdigest()


def write_segment(root: Path, key: str, segment: Segment) -> Path:
    """Write ``segment`` atomically; returns its path."""
    ids = np.ascontiguousarray(segment.ids, dtype=np.uint64)
    vectors = np.ascontiguousarray(segment.vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(ids):
        raise ValueError(f"segment of {len(ids)} ids and vectors of shape {vectors.shape}")
    meta = {"version": VERSION, "space": key, "seq": segment.seq, "analyses": segment.analyses,
            "dead": sorted(segment.dead), "signature": segment.signature, "sha256": _digest(ids, vectors)}  # fmt: skip
    path = segment_path(root, key, segment.seq)
    with atomic_open(path, "wb") as fh:
        np.savez(fh, ids=ids, vectors=vectors, meta=np.array(json.dumps(meta)))
    return path


def read_segment(path: Path, key: str) -> Segment:
    """The segment at ``path``; :class:`SegmentError` when it is unreadable, another space's or damaged,
    FileNotFoundError when it is gone."""
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, vectors, meta = data["ids"], data["vectors"], json.loads(str(data["meta"]))
        if meta.get("version") != VERSION or meta.get("space") != key:
            raise SegmentError(f"{path.name}: another version or space")
        if ids.dtype != np.uint64 or vectors.dtype != np.float32 or vectors.ndim != 2 or len(ids) != len(vectors):
            raise SegmentError(f"{path.name}: ids {ids.shape} {ids.dtype}, vectors {vectors.shape} {vectors.dtype}")
        if _digest(ids, vectors) != meta.get("sha256"):
            raise SegmentError(f"{path.name}: checksum mismatch")
        analyses = {str(k): int(v) for k, v in meta["analyses"].items()}
        return Segment(int(meta["seq"]), ids, vectors, analyses, frozenset(meta["dead"]), meta.get("signature"))
    except FileNotFoundError:
        raise
    except SegmentError:
        raise
    except Exception as exc:  # a truncated zip, a missing member, bad JSON
        raise SegmentError(f"{path.name}: unreadable ({type(exc).__name__}: {exc})") from exc
