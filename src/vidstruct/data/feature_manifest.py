"""The manifest of a feature directory (format ``vidstruct.features/1``) and its append-only journal.

``DIR/manifest.json`` holds the store's configuration and one entry per video (the format is described in
:mod:`vidstruct.data.features`). A run that adds videos one at a time does not rewrite it after each video
(quadratic in the collection: on ActivityNet's 20k videos that is ~20k rewrites of a manifest growing to
several MB). It appends one JSON line per finished or failed video to ``DIR/manifest.journal.jsonl``::

    {"op": "done", "video_id": "v1", "entry": {"features": "v1.npy", "probs": null, "num_snippets": 15, ...}}
    {"op": "failed", "video_id": "v2", "error": "/videos/v2.mp4: no such file"}

each line with a single ``write`` on an ``O_APPEND`` descriptor followed by ``fsync``, and folds the journal
into ``manifest.json`` (:func:`compact_manifest`: an atomic replace through :mod:`vidstruct.atomic`, then
the journal is emptied) when a run starts and ends, and whenever the journal grows larger than the
manifest (and than :data:`COMPACT_MIN_BYTES`). The manifest is thus rewritten O(log N) times for N videos,
a constant number of bytes per video whatever the size of the collection.

What every reader sees (:func:`read_manifest`) is ``manifest.json`` with the journal replayed on top, in
order: a ``done`` record sets ``videos[id]`` and removes ``failed[id]``, a ``failed`` record the reverse.
A last line that is not a whole record (a writer killed in the middle of an append) is ignored with a
warning, and dropped by the next writer; a malformed line before the last is an error. A store without a
journal reads as it always did.

Appends, compactions and reads take an advisory lock on the directory (``flock``: exclusive to write,
shared to read), so that several processes may append to one store, a compaction never loses a record
appended meanwhile, and a reader never sees a half-written line of a live writer. Where the platform or
file system has no ``flock`` the lock is skipped and a directory must have a single writer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vidstruct.atomic import write_json_atomic
from vidstruct.errors import VidstructError

try:  # POSIX only; without it (Windows) a feature directory must have a single writer
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

FORMAT = "vidstruct.features/1"
MANIFEST_NAME = "manifest.json"
JOURNAL_NAME = "manifest.journal.jsonl"
#: a journal is folded into the manifest once it is larger than the manifest and than this many bytes
COMPACT_MIN_BYTES = 1 << 20

__all__ = [
    "COMPACT_MIN_BYTES",
    "FORMAT",
    "JOURNAL_NAME",
    "MANIFEST_NAME",
    "FeatureStoreError",
    "ManifestJournal",
    "compact_manifest",
    "new_manifest",
    "read_manifest",
    "validate_manifest",
    "write_manifest",
]


class FeatureStoreError(VidstructError):
    """A feature directory / manifest / journal / feature file is missing or malformed."""


def new_manifest(
    *,
    checkpoint: str | os.PathLike,
    sha256: str,
    model: str,
    config_hash: str,
    window_s: float,
    stride_s: float,
    feature_dim: int,
    classes: list[str] | None,
) -> dict[str, Any]:
    """An empty manifest (no videos) for a feature directory."""
    return {
        "format": FORMAT,
        "backbone": {"checkpoint": str(Path(checkpoint).resolve()), "sha256": sha256, "model": model},
        "config_hash": config_hash,
        "window_s": float(window_s),
        "stride_s": float(stride_s),
        "feature_dim": int(feature_dim),
        "classes": list(classes) if classes is not None else None,
        "videos": {},
        "failed": {},
    }


# ----------------------------------------------------------------------------------------------- validation


def _need(cond: bool, where: Path | str, field: str, expected: str, got: Any = None) -> None:
    if not cond:
        suffix = f", got {got!r}" if got is not None else ""
        raise FeatureStoreError(f"{where}: field {field!r} must be {expected}{suffix}")


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _validate_entry(entry: Any, where: Path | str, field: str) -> None:
    """One ``videos`` entry: features / probs file names, snippet count, duration, frame rate."""
    _need(isinstance(entry, dict), where, field, "an object", entry)
    _need(isinstance(entry.get("features"), str), where, f"{field}.features", "a file name", entry.get("features"))
    probs = entry.get("probs")
    _need(probs is None or isinstance(probs, str), where, f"{field}.probs", "null or a file name", probs)
    n = entry.get("num_snippets")
    _need(isinstance(n, int) and not isinstance(n, bool) and n > 0, where, f"{field}.num_snippets", "int > 0", n)
    d = entry.get("duration_s")
    _need(_is_num(d) and d > 0, where, f"{field}.duration_s", "a positive number", d)
    fps = entry.get("video_fps")
    _need(fps is None or (_is_num(fps) and fps > 0), where, f"{field}.video_fps", "null or a positive number", fps)


def validate_manifest(manifest: Any, where: Path | str = MANIFEST_NAME) -> None:
    """Check the structure of a ``vidstruct.features/1`` manifest; raises :class:`FeatureStoreError`."""
    _need(isinstance(manifest, dict), where, "<root>", "a JSON object", type(manifest).__name__)
    fmt = manifest.get("format")
    if fmt != FORMAT:
        raise FeatureStoreError(f"{where}: field 'format' must be {FORMAT!r}, got {fmt!r}")
    bb = manifest.get("backbone")
    _need(isinstance(bb, dict), where, "backbone", "an object with checkpoint / sha256 / model", bb)
    for key in ("checkpoint", "sha256", "model"):
        _need(isinstance(bb.get(key), str), where, f"backbone.{key}", "a string", bb.get(key))
    _need(isinstance(manifest.get("config_hash"), str), where, "config_hash", "a string", manifest.get("config_hash"))
    for key in ("window_s", "stride_s"):
        v = manifest.get(key)
        _need(_is_num(v) and v > 0, where, key, "a positive number", v)
    fd = manifest.get("feature_dim")
    _need(isinstance(fd, int) and not isinstance(fd, bool) and fd > 0, where, "feature_dim", "a positive int", fd)
    classes = manifest.get("classes")
    _need(
        classes is None or (isinstance(classes, list) and all(isinstance(c, str) for c in classes)),
        where,
        "classes",
        "null or a list of strings",
        classes,
    )
    videos = manifest.get("videos")
    _need(isinstance(videos, dict), where, "videos", "an object {video_id: entry}", videos)
    for vid, entry in videos.items():
        _validate_entry(entry, where, f"videos.{vid}")
    failed = manifest.get("failed", {})
    _need(isinstance(failed, dict), where, "failed", "an object {video_id: message}", failed)


def _validate_record(record: Any, where: str) -> None:
    """One journal record: ``{"op": "done", "video_id", "entry"}`` or ``{"op": "failed", "video_id", "error"}``."""
    _need(isinstance(record, dict), where, "<record>", "a JSON object", type(record).__name__)
    op = record.get("op")
    _need(op in ("done", "failed"), where, "op", "'done' or 'failed'", op)
    vid = record.get("video_id")
    _need(isinstance(vid, str) and vid != "", where, "video_id", "a non-empty string", vid)
    if op == "done":
        _validate_entry(record.get("entry"), where, "entry")
    else:
        _need(isinstance(record.get("error"), str), where, "error", "a string", record.get("error"))


# ----------------------------------------------------------------------------------------------- locking


@contextlib.contextmanager
def _locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold an advisory ``flock`` on ``directory`` (exclusive or shared); a no-op where there is none."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened (some network file systems): no lock
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError as exc:  # pragma: no cover - a file system without flock
            log.debug("%s: no advisory lock (%s); assuming a single writer", directory, exc)
        yield
    finally:
        os.close(fd)  # releases the lock


# ----------------------------------------------------------------------------------------------- reading


def _load_manifest_file(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeatureStoreError(f"{path}: not valid JSON ({exc})") from None
    validate_manifest(manifest, path)
    return manifest


def _read_journal(path: Path) -> list[dict[str, Any]]:
    """The records of a journal, in order; a torn last line is ignored with a warning (see the module doc)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FeatureStoreError(f"{path}: cannot be read ({exc})") from None
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # ``tail`` is what follows the last newline (b"" when none)
    records: list[dict[str, Any]] = []
    for number, line in enumerate(complete, start=1):
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number == len(complete) and not tail:  # garbage as the last line (a crash): torn
                log.warning("%s: line %d is not a whole record (a writer was interrupted); ignored", path, number)
                break
            raise FeatureStoreError(f"{path}: line {number} is not valid JSON ({exc})") from None
        _validate_record(record, f"{path}: line {number}")
        records.append(record)
    if tail:
        log.warning("%s: line %d is not a whole record (a writer was interrupted); ignored", path, len(complete) + 1)
    return records


def _apply(manifest: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    manifest.setdefault("failed", {})
    for record in records:
        vid = record["video_id"]
        if record["op"] == "done":
            manifest["videos"][vid] = record["entry"]
            manifest["failed"].pop(vid, None)
        else:
            manifest["failed"][vid] = record["error"]
            manifest["videos"].pop(vid, None)
    return manifest


def _read_state(directory: Path) -> dict[str, Any]:
    """``manifest.json`` + the journal replayed on top (call with the directory locked)."""
    manifest = _load_manifest_file(directory / MANIFEST_NAME)
    return _apply(manifest, _read_journal(directory / JOURNAL_NAME))


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The manifest of ``DIR`` as every reader sees it: ``manifest.json`` with the journal replayed on top,
    validated (raises :class:`FeatureStoreError` naming the file / line / field)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FeatureStoreError(f"{directory}: feature directory does not exist")
    if not (directory / MANIFEST_NAME).is_file():
        raise FeatureStoreError(
            f"{directory / MANIFEST_NAME}: no manifest.json (not a feature directory written by extract-features)"
        )
    with _locked(directory, exclusive=False):
        return _read_state(directory)


# ----------------------------------------------------------------------------------------------- writing


def _sorted(manifest: dict[str, Any]) -> dict[str, Any]:
    out = dict(manifest)
    out["videos"] = dict(sorted(manifest["videos"].items()))
    out["failed"] = dict(sorted(manifest.get("failed", {}).items()))
    return out


def _replace(directory: Path, manifest: dict[str, Any]) -> int:
    """Write the whole manifest atomically, then empty the journal (call locked); returns the manifest's size."""
    path = directory / MANIFEST_NAME
    write_json_atomic(path, _sorted(manifest), indent=2)
    journal = directory / JOURNAL_NAME
    if journal.exists():
        # after the rename: a crash in between only replays records the new manifest already holds
        with open(journal, "r+b") as fh:
            fh.truncate(0)
            os.fsync(fh.fileno())
    return path.stat().st_size


def write_manifest(directory: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Atomically write ``manifest`` as the whole state of ``DIR`` (``manifest.json``; any journal is
    emptied); returns the manifest's path. Runs that add videos one by one use :class:`ManifestJournal`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory, exclusive=True):
        _replace(directory, manifest)
    return directory / MANIFEST_NAME


def compact_manifest(
    directory: str | os.PathLike,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    *,
    initial: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fold the journal of ``DIR`` into ``manifest.json`` (atomically) and empty it; returns the manifest.

    Args:
        directory: the feature directory (created if missing).
        prepare: called on the current manifest before it is written; may change it or raise (nothing is
            written then), e.g. to check the configuration and drop entries whose files are gone.
        initial: the manifest to start from when ``DIR`` has no ``manifest.json`` yet (a journal without a
            manifest is left over from another store and is discarded with a warning). Without it, a
            missing manifest is a :class:`FeatureStoreError`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory, exclusive=True):
        manifest, _ = _compact_locked(directory, prepare, initial)
    return manifest


def _compact_locked(
    directory: Path,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    initial: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int]:
    if (directory / MANIFEST_NAME).is_file():
        manifest = _read_state(directory)
    elif initial is not None:
        if (directory / JOURNAL_NAME).is_file() and (directory / JOURNAL_NAME).stat().st_size:
            log.warning("%s: journal without a manifest.json; ignored", directory / JOURNAL_NAME)
        manifest = json.loads(json.dumps(initial))  # a deep copy
        validate_manifest(manifest, "the initial manifest")
    else:
        raise FeatureStoreError(f"{directory / MANIFEST_NAME}: no manifest.json to compact the journal into")
    if prepare is not None:
        manifest = prepare(manifest)
    return manifest, _replace(directory, manifest)


class ManifestJournal:
    """Append-only record of finished / failed videos of ``DIR`` (which must hold a ``manifest.json``).

    :meth:`done` and :meth:`failed` each append one line and ``fsync`` it: once they return, the record
    survives a crash. The journal is compacted into ``manifest.json`` when it grows larger than the manifest
    and than ``compact_min_bytes``, and by :meth:`close` (also on leaving a ``with`` block).
    """

    def __init__(self, directory: str | os.PathLike, *, compact_min_bytes: int = COMPACT_MIN_BYTES) -> None:
        self.directory = Path(directory)
        manifest = self.directory / MANIFEST_NAME
        if not manifest.is_file():
            raise FeatureStoreError(f"{manifest}: no manifest.json (create the store before journaling into it)")
        self.compact_min_bytes = int(compact_min_bytes)
        self._manifest_bytes = manifest.stat().st_size
        self._fd: int | None = os.open(self.directory / JOURNAL_NAME, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)

    def done(self, video_id: str, entry: dict[str, Any]) -> None:
        """Record that ``video_id``'s feature files are written and described by ``entry`` (a ``videos`` entry)."""
        record = {"op": "done", "video_id": video_id, "entry": entry}
        _validate_record(record, f"{self.directory / JOURNAL_NAME}: record of {video_id!r}")
        self._append(record)

    def failed(self, video_id: str, error: str) -> None:
        """Record that ``video_id`` could not be processed, and why."""
        record = {"op": "failed", "video_id": video_id, "error": str(error)}
        _validate_record(record, f"{self.directory / JOURNAL_NAME}: record of {video_id!r}")
        self._append(record)

    def _append(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            raise ValueError(f"{self.directory / JOURNAL_NAME}: journal is closed")
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
        with _locked(self.directory, exclusive=True):
            size = self._drop_torn_tail()
            view = memoryview(line)
            while view:  # one write in practice; a short write only continues the same line (we hold the lock)
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
            if size + len(line) > max(self.compact_min_bytes, self._manifest_bytes):
                _, self._manifest_bytes = _compact_locked(self.directory)

    def _drop_torn_tail(self) -> int:
        """Cut a line left unfinished by a killed writer (it would swallow the next record); returns the size."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return size
        path = self.directory / JOURNAL_NAME
        keep = path.read_bytes().rfind(b"\n") + 1
        log.warning("%s: dropped an unfinished last line (%d bytes) left by an interrupted writer", path, size - keep)
        os.truncate(path, keep)
        return keep

    def compact(self) -> dict[str, Any]:
        """Fold the journal into ``manifest.json`` now; returns the manifest."""
        with _locked(self.directory, exclusive=True):
            manifest, self._manifest_bytes = _compact_locked(self.directory)
        return manifest

    def close(self) -> None:
        """Compact (when the journal holds anything) and close; further appends are an error."""
        if self._fd is None:
            return
        try:
            if os.fstat(self._fd).st_size:
                self.compact()
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ManifestJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
