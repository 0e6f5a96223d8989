"""Write ``report.html``: one self-contained page that shows a ``vidstruct.structure/1`` document.

The page is the template ``report.html`` with ``report.css`` and ``report.js`` inlined and the
document embedded as a JSON ``<script type="application/json">`` block; the script draws the
player, the timeline lanes (shots, one lane per segment label, actors per track), the sortable
segment table, the shot thumbnails, the models, timings and warnings. Nothing is fetched from
the network: a Content-Security-Policy allows only the page's own script and style (by hash),
``data:`` images and the video file.

- **Thumbnails are inlined as ``data:`` URIs.** They are small JPEGs (a few kB each), and inlining
  keeps the page whole when it is copied, mailed or stored without its ``thumbs/`` folder; only
  the video, too large to inline, stays outside. A thumbnail that is missing, not an image, too
  large (over :data:`MAX_THUMBNAIL_BYTES`) or outside the document's folder is left out and
  listed in the page's warnings as a report note.
- **The video is referenced by a URL relative to the report** (so the report and the video can
  move together), or by an absolute ``file:`` URI where no relative path exists (another drive).
  The document's ``video.path`` is the path given to ``analyze``: absolute, or relative to the
  folder it ran in; a relative one is looked for from the current folder, then from the
  document's folder; ``video_path=`` overrides it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vidstruct import __version__
from vidstruct.atomic import write_text_atomic
from vidstruct.structure.files import Structure, read_structure

__all__ = ["MAX_THUMBNAIL_BYTES", "REPORT_FILE", "render_report", "write_report"]

#: Name of the report beside ``structure.json``.
REPORT_FILE = "report.html"
#: Thumbnails larger than this (bytes) are not inlined.
MAX_THUMBNAIL_BYTES = 2 * 1024 * 1024

_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# Characters that must not appear literally in a JSON block inside HTML: "<" ends the block at
# "</script>" or opens "<!--", ">" and "&" for symmetry; U+2028 / U+2029 are line ends in old JS.
_JSON_IN_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def json_for_html(value: Any) -> str:
    """``value`` as JSON safe inside an HTML ``<script>`` element (no ``<``, ``>``, ``&`` left literal)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).translate(_JSON_IN_HTML)


def _image_mime(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _thumbnail_paths(document: Mapping[str, Any]) -> list[str]:
    paths = [s.get("thumbnail") for s in document.get("shots", [])]
    paths += [s.get("thumbnail") for s in document.get("segments", [])]
    paths += [t.get("path") for t in document.get("thumbnails", [])]
    return list(dict.fromkeys(p for p in paths if isinstance(p, str)))


def _inline_thumbnails(document: Mapping[str, Any], document_dir: Path) -> tuple[dict[str, str], list[str]]:
    """Document thumbnail path → ``data:`` URI, and the notes about those left out."""
    folder = document_dir.resolve()
    uris: dict[str, str] = {}
    notes: list[str] = []
    for rel in _thumbnail_paths(document):
        file = (folder / rel).resolve()
        if not file.is_relative_to(folder):
            notes.append(f"thumbnail {rel} lies outside the document's folder: not shown")
            continue
        if not file.is_file():
            notes.append(f"thumbnail {rel} not found: not shown")
            continue
        size = file.stat().st_size
        if size > MAX_THUMBNAIL_BYTES:
            notes.append(f"thumbnail {rel} is {size} bytes (over {MAX_THUMBNAIL_BYTES}): not shown")
            continue
        data = file.read_bytes()
        mime = _image_mime(data)
        if mime is None:
            notes.append(f"thumbnail {rel} is not a JPEG, PNG, GIF or WebP image: not shown")
            continue
        uris[rel] = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return uris, notes


def video_src(
    document_video_path: str, document_dir: Path, report_dir: Path, video_path: str | os.PathLike[str] | None = None
) -> tuple[str, str | None]:
    """The URL of the video as the report's ``<video src>``, and a note when the file was not found.

    ``video_path`` (if given) wins over ``document_video_path`` (the document's ``video.path``). The URL is
    relative to ``report_dir`` and percent-encoded (``a b#1.mp4`` → ``a%20b%231.mp4``), or an absolute
    ``file:`` URI where no relative path exists.
    """
    if video_path is not None:
        candidates = [Path(video_path)]
    else:
        given = Path(document_video_path)
        candidates = [given] if given.is_absolute() else [Path.cwd() / given, document_dir / given]
    found = next((c for c in candidates if c.is_file()), None)
    target = Path(os.path.abspath(found if found is not None else candidates[0]))
    note = None if found is not None else f"video file {target} not found when the report was written"
    try:
        rel = os.path.relpath(target, os.path.abspath(report_dir))
    except ValueError:  # another drive (Windows): no relative path
        return target.as_uri(), note
    return quote(Path(rel).as_posix()), note


def timeline_duration(document: Mapping[str, Any]) -> float:
    """Seconds the timeline spans: the video's duration, else the latest end / time of any result, else 0."""
    duration = (document.get("video") or {}).get("duration_s")
    if isinstance(duration, (int, float)) and duration > 0:
        return float(duration)
    ends = [item["end_s"] for key in ("shots", "segments", "windows") for item in document.get(key, [])]
    ends += [actor["time_s"] for actor in document.get("actors", [])]
    return float(max(ends, default=0.0))


def render_report(
    document: Mapping[str, Any],
    *,
    document_dir: str | os.PathLike[str],
    report_dir: str | os.PathLike[str],
    video_path: str | os.PathLike[str] | None = None,
) -> str:
    """The report page (HTML text) of a validated ``document`` read from ``document_dir``, to be saved in
    ``report_dir`` (the video's URL is relative to it). ``video_path`` overrides the document's video path."""
    document_dir, report_dir = Path(document_dir), Path(report_dir)
    thumbnails, notes = _inline_thumbnails(document, document_dir)
    src, note = video_src(str(document["video"]["path"]), document_dir, report_dir, video_path)
    if note:
        notes.insert(0, note)
    payload = {
        "document": document,
        "report": {
            "video_src": src,
            "duration_s": timeline_duration(document),
            "thumbnails": thumbnails,
            "notes": notes,
        },
    }
    style, script = _asset("report.css"), _asset("report.js")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_csp_hash(script)}",
            f"style-src {_csp_hash(style)}",
            "img-src data:",
            "media-src 'self' file: blob:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    values = {
        "csp": csp,
        "version": html.escape(__version__),
        "title": html.escape(f"vidstruct report: {document['video']['id']}"),
        "style": style,
        "script": script,
        "data": json_for_html(payload),
    }
    # One pass: a "{{...}}" inside a substituted value (a label, the script) is never substituted again.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("report.html"))


def write_report(
    structure_path: str | os.PathLike[str] | Structure,
    out_path: str | os.PathLike[str] | None = None,
    *,
    video_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Read and validate ``structure_path`` (a ``structure.json`` or its folder; a :class:`Structure` already
    validated is used as it is, not read again), write its report to
    ``out_path`` (default: ``report.html`` beside it; an existing folder: ``report.html`` in it) atomically,
    and return the report's path.

    Raises :class:`~vidstruct.structure.errors.StructureError` (a ``VidstructError``) when the document is
    missing, is not JSON, or breaks ``vidstruct.structure/1``.
    """
    structure = structure_path if isinstance(structure_path, Structure) else read_structure(structure_path)
    out = Path(out_path) if out_path is not None else structure.folder / REPORT_FILE
    if out.is_dir():
        out = out / REPORT_FILE
    text = render_report(
        structure.document, document_dir=structure.folder, report_dir=out.parent, video_path=video_path
    )
    return write_text_atomic(out, text)
