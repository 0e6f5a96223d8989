"""Lists of videos for batch commands (``extract-features``): ``{video_id: path}`` from a file or folder.

Accepted forms of ``LIST``:

- a text file: one video path per line; relative paths are resolved against the list's folder; blank lines
  and lines starting with ``#`` are ignored (also text after `` #``);
- a directory: every video file in it (by extension, :data:`VIDEO_EXTENSIONS`), sorted by name;
- an ActivityNet-style JSON (``{"database": {video_id: {...}}}``, what ``vidstruct synth --task localize``
  writes): the videos are ``<json dir>/videos/<video_id>.mp4`` (another extension is found when no ``.mp4``
  exists; a video that is not there still appears, and fails when read).

``video_id`` is the file stem (ActivityNet: the database key). Two paths with the same stem are an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vidstruct.errors import InputError

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp", ".y4m"}
)


def _add(out: dict[str, str], video_id: str, path: Path, where: str | os.PathLike) -> None:
    if video_id in out and out[video_id] != str(path):
        raise InputError(f"{where}: two videos have the same video id {video_id!r}: {out[video_id]} and {path}")
    out[video_id] = str(path)


def _from_directory(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
            _add(out, path.stem, path, folder)
    if not out:
        exts = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise InputError(f"{folder}: directory holds no video files (extensions {exts})")
    return out


def _from_activitynet(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise InputError(f"{path}: expected an ActivityNet-style JSON object with a 'database' object")
    folder = path.parent / "videos"
    out: dict[str, str] = {}
    for video_id in data["database"]:
        video = folder / f"{video_id}.mp4"
        if not video.exists() and folder.is_dir():
            others = sorted(p for p in folder.glob(f"{video_id}.*") if p.suffix.lower() in VIDEO_EXTENSIONS)
            video = others[0] if others else video
        _add(out, str(video_id), video, path)
    if not out:
        raise InputError(f"{path}: 'database' lists no videos")
    return out


def _from_text(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (expected one video path per line)") from None
    out: dict[str, str] = {}
    for line in lines:
        entry = line.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        video = Path(entry).expanduser()
        if not video.is_absolute():
            video = path.parent / video
        _add(out, video.stem, video, path)
    if not out:
        raise InputError(f"{path}: the list names no videos (expected one video path per line)")
    return out


def read_video_list(path: str | os.PathLike) -> dict[str, str]:
    """``{video_id: video path}`` from a list file, a directory or an ActivityNet JSON (see the module doc)."""
    path = Path(path)
    if path.is_dir():
        return _from_directory(path)
    if not path.is_file():
        raise InputError(f"{path}: video list not found (expected a text file, a directory or a JSON file)")
    if path.suffix.lower() == ".json":
        return _from_activitynet(path)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        raise InputError(f"{path}: is a video; --videos expects a list of videos (text file, directory or JSON)")
    return _from_text(path)
