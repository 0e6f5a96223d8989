"""Reading ``POST /v1/jobs``'s form as it streams in (multipart; URL-encoded when it carries no file): small
fields in memory (size-limited), the ``file`` part straight to disk under ``DATA/uploads/`` while its SHA-256 is
computed.

The upload is a ``.part`` file until the caller keeps it (:func:`keep_upload` renames it into ``videos/``,
fsyncs it and its folder, as :mod:`vidstruct.atomic` does); any error, an oversized upload included, removes it.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl

from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from vidstruct.atomic import fsync_dir
from vidstruct.service.errors import InsufficientStorageError, ServiceError, TooLargeError

_VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}


@dataclass
class Upload:
    """The ``file`` part on disk: where, its size, SHA-256 and the name the client gave."""

    path: Path
    size: int
    sha256: str
    filename: str | None

    @property
    def suffix(self) -> str:
        """The file's extension when it is a known video one (lower case), else ``.video``."""
        suffix = Path(self.filename or "").suffix.lower()
        return suffix if suffix in _VIDEO_SUFFIXES else ".video"

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class JobForm:
    fields: dict[str, str] = field(default_factory=dict)
    upload: Upload | None = None


class _FormReader:
    """The parser's callbacks: route each part to a field buffer or the upload file."""

    def __init__(self, uploads: Path, max_upload: int, max_field: int) -> None:
        self.uploads, self.max_upload, self.max_field = uploads, max_upload, max_field
        self.form = JobForm()
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None
        self._file_path: Path | None = None
        self._filename: str | None = None
        self._size = 0
        self._digest = hashlib.sha256()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._append("_header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._append("_header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _append(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _begin(self) -> None:
        self._headers, self._name, self._buffer = {}, None, bytearray()

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if name is None:
            raise ServiceError("a multipart part has no name")
        self._name = name.decode("utf-8", "replace")
        if self._name == "file":
            if self.form.upload is not None or self._file is not None:
                raise ServiceError("the form has more than one 'file'")
            raw = options.get(b"filename")
            self._filename = raw.decode("utf-8", "replace") if raw is not None else None
            self.uploads.mkdir(parents=True, exist_ok=True)
            self._file_path = self.uploads / f"{uuid.uuid4().hex}.part"
            self._file = open(self._file_path, "wb")  # closed in _end or close()

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None:
            self._size += len(chunk)
            if self._size > self.max_upload:
                raise TooLargeError(f"the upload is larger than the limit of {self.max_upload} bytes")
            self._digest.update(chunk)
            self._file.write(chunk)
        else:
            self._buffer += chunk
            if len(self._buffer) > self.max_field:
                raise TooLargeError(f"form field {self._name!r} is longer than {self.max_field} bytes")

    def _end(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            assert self._file_path is not None
            self.form.upload = Upload(self._file_path, self._size, self._digest.hexdigest(), self._filename)
        elif self._name is not None:
            if self._name in self.form.fields:
                raise ServiceError(f"form field {self._name!r} is given twice")
            self.form.fields[self._name] = self._buffer.decode("utf-8", "replace")

    def close(self) -> None:
        """Remove what an unfinished read left."""
        if self._file is not None:
            self._file.close()
        if self._file_path is not None and (self.form.upload is None or self.form.upload.path != self._file_path):
            self._file_path.unlink(missing_ok=True)


async def read_job_form(request: Request, uploads: Path, *, max_upload: int, max_field: int) -> JobForm:
    """The multipart form of ``request`` (see the module doc); 400 when it is not multipart, 413 when too big."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/x-www-form-urlencoded":  # a form without a file (a server-side path)
        return await _read_urlencoded(request, max_field)
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ServiceError("expected a multipart/form-data body (fields 'file' or 'path', 'features', ...)")
    reader = _FormReader(uploads, max_upload, max_field)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in request.stream():
            await run_in_threadpool(parser.write, chunk)  # the file part is written to disk off the event loop
        parser.finalize()
    except MultipartParseError:
        reader.close()
        raise ServiceError("the multipart body is malformed") from None
    except OSError as exc:  # a full disk: the server keeps serving, the client hears why
        reader.close()
        raise InsufficientStorageError(
            f"the upload could not be stored: {exc.strerror or type(exc).__name__}"
        ) from None
    except BaseException:
        reader.close()
        raise
    reader.close()
    return reader.form


async def _read_urlencoded(request: Request, max_field: int) -> JobForm:
    limit = 16 * max_field
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLargeError(f"the form is longer than {limit} bytes")
    form = JobForm()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise ServiceError("the form body is malformed") from None
    for name, value in pairs:
        if name == "file":
            raise ServiceError("a file upload needs a multipart/form-data body")
        if name in form.fields:
            raise ServiceError(f"form field {name!r} is given twice")
        if len(value.encode()) > max_field:
            raise TooLargeError(f"form field {name!r} is longer than {max_field} bytes")
        form.fields[name] = value
    return form


def keep_upload(upload: Upload, videos_dir: Path) -> Path:
    """Move an upload into ``videos_dir`` as ``<sha256><suffix>`` (durably); returns the new path."""
    videos_dir.mkdir(parents=True, exist_ok=True)
    target = videos_dir / f"{upload.sha256}{upload.suffix}"
    os.replace(upload.path, target)
    fsync_dir(videos_dir)
    upload.path = target
    return target
