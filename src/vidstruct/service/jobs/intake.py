"""Videos entering the service: server-side paths checked against the allowed roots, files probed and
registered once per content (deduplicated by SHA-256).

A path is accepted only when its real location (symlinks and ``..`` resolved) lies inside the real location of
an ``--allow-root`` folder; anything else is refused with the same message whether or not it exists, so the
API does not tell which files the server has.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.io import probe
from vidstruct.io.errors import VideoDecodeError
from vidstruct.service.db.models import Video
from vidstruct.service.errors import ForbiddenPathError, UnprocessableError

_CHUNK = 1 << 20


def resolve_allowed(path: str, roots: Sequence[Path]) -> Path:
    """The real path of ``path`` if it is a file inside one of ``roots``; :class:`ForbiddenPathError` otherwise."""
    refused = ForbiddenPathError("path is not a file under an allowed root (see 'vidstruct serve --allow-root')")
    if not roots or not path or "\x00" in path or not os.path.isabs(path):
        raise refused
    real = Path(os.path.realpath(path))
    for root in roots:
        real_root = Path(os.path.realpath(root))
        if real.is_relative_to(real_root) and real != real_root and real.is_file():
            return real
    raise refused


def sha256_of(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def probe_or_refuse(path: Path) -> dict:
    """``probe(path)`` as a dict; a file that is not a readable video is a 422 (UnprocessableError)."""
    try:
        return probe(path).to_dict()
    except VideoDecodeError as exc:
        raise UnprocessableError(f"not a readable video: {exc.__class__.__name__}") from None


def find_video(session: Session, sha256: str) -> Video | None:
    return session.scalar(select(Video).where(Video.sha256 == sha256))


def new_video(sha256: str, path: str, *, stored: bool, size: int, info: dict, filename: str | None) -> Video:
    """A video row from a probe (``info``: :meth:`VideoInfo.to_dict`); ``path``: relative to the data folder
    when ``stored``, else absolute."""
    info = {k: v for k, v in info.items() if k != "path"}  # the probe's own copy of the path stays out of the row
    return Video(
        sha256=sha256, path=path, stored=stored, filename=filename, size_bytes=size,
        duration_s=info.get("duration_s"), fps=info.get("fps_average"), width=info.get("width"),
        height=info.get("height"), codec=info.get("codec"), probe=info, tags=[],
    )  # fmt: skip


def video_file(video: Video, data_dir: Path) -> Path:
    """Where the bytes of ``video`` are on this machine."""
    return data_dir / video.path if video.stored else Path(video.path)
