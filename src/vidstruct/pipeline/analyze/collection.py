"""Analyze many videos into one output folder: resumable, a bad video does not stop the others, pool or Ray.

:func:`analyze_videos` runs :func:`~vidstruct.pipeline.analyze.video.analyze_video` for every ``{video_id:
path}`` into ``OUT/VIDEO_ID/``:

- **resumable**: a video is skipped when ``OUT/VIDEO_ID/structure.json`` is a valid document of the same
  file content (``video.sha256``, the SHA-256 of the file's bytes) made with the same profile
  (``profile.sha256``), and every file it names (thumbnails, embeddings) and ``report.html`` (when reports
  are on) exist;
- **a bad video** (missing, empty, corrupt, audio-only, unreadable, a worker process that dies on it) is
  recorded with its one-line message and the others go on;
- **in parallel**: ``workers > 1`` worker processes (:func:`vidstruct.data.procpool.map_surviving`; each loads
  the models once), or Ray tasks (``ray=True``; a local Ray, or the cluster at ``ray_address``: videos,
  checkpoints and ``OUT`` must then be paths every node can read and write). Each video's files are written by
  the process that analyzed it (atomically, :mod:`vidstruct.atomic`); the main process records the outcome;
- ``OUT/analyze.json`` (written after every video) lists each video as ``done``, ``skipped`` or ``failed``
  (with its message), with the profile;
- ``exports``: the formats asked for are written beside each document (a video whose exports are missing is
  analyzed again).

Model errors (a missing checkpoint, a checkpoint of the wrong kind) are raised before any video starts; the
models are not loaded at all when every video is already done.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import torch

from vidstruct.atomic import write_json_atomic
from vidstruct.data.procpool import WorkerDied, map_surviving
from vidstruct.device import resolve_device
from vidstruct.errors import InputError, VidstructError
from vidstruct.models.checkpoint import sha256_file
from vidstruct.pipeline.analyze.models import AnalyzeModels, load_models
from vidstruct.pipeline.analyze.settings import AnalyzeSettings
from vidstruct.pipeline.analyze.video import EXPORT_FILES, ProgressFn, analyze_video
from vidstruct.pipeline.ray_session import ray_session
from vidstruct.pipeline.video_list import VIDEO_EXTENSIONS, read_video_list
from vidstruct.structure import STRUCTURE_FILE, StructureError, read_structure
from vidstruct.structure.report import REPORT_FILE

__all__ = ["RUN_FILE", "CollectionReport", "analyze_videos", "collect_videos", "is_done"]

log = logging.getLogger(__name__)

RUN_FILE = "analyze.json"
RUN_FORMAT = "vidstruct.analyze-run/1"

#: ``progress(video_id, stage, done_s, total_s)`` for videos analyzed in this process
CollectionProgress = Callable[[str, str, float, float], None]
#: ``on_result(video_id, status)`` once a video is done, skipped or failed
ResultFn = Callable[[str, str], None]


@dataclass
class CollectionReport:
    """What :func:`analyze_videos` did: video IDs done now, skipped (already done), failed (with messages)."""

    out_dir: Path
    profile_sha256: str | None
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "profile_sha256": self.profile_sha256,
            "done": dict(self.done),
            "skipped": list(self.skipped),
            "failed": dict(self.failed),
            "ok": self.ok,
        }


# ----------------------------------------------------------------------------------------------- inputs


def _add(out: dict[str, str], video_id: str, path: str, where: str) -> None:
    if video_id in out and out[video_id] != path:
        raise InputError(f"{where}: two videos have the same video id {video_id!r}: {out[video_id]} and {path}")
    out[video_id] = path


def collect_videos(inputs: Sequence[str | os.PathLike[str]]) -> dict[str, str]:
    """``{video_id: path}`` (video_id: the file stem) from video files, folders and lists.

    A folder gives every entry whose name has a video extension, sorted by name, including entries that
    cannot be read (a broken link, a folder named ``x.mp4``): those fail with their own message while the
    others are analyzed. Any other file that is not a video is a list (:func:`read_video_list`: text or
    ActivityNet JSON).
    """
    out: dict[str, str] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            try:
                entries = sorted(path.iterdir())
            except OSError as exc:
                raise InputError(f"{path}: cannot list the folder ({exc.strerror or exc})") from None
            found = [p for p in entries if p.suffix.lower() in VIDEO_EXTENSIONS]
            if not found:
                exts = ", ".join(sorted(VIDEO_EXTENSIONS))
                raise InputError(f"{path}: folder holds no video files (extensions {exts})")
            for video in found:
                _add(out, video.stem, str(video), str(path))
        elif path.suffix.lower() in VIDEO_EXTENSIONS or not path.exists():
            _add(out, path.stem, str(path), "command line")
        else:
            for video_id, video in read_video_list(path).items():
                _add(out, video_id, video, str(path))
    if not out:
        raise InputError("no video to analyze")
    return out


# ----------------------------------------------------------------------------------------------- resume


def is_done(
    folder: Path,
    video_sha256: str,
    profile_sha256: str | None,
    *,
    report: bool,
    exports: Sequence[str] = (),
    stages: Sequence[str] | None = None,
) -> bool:
    """``folder`` holds a complete analysis of the file with ``video_sha256`` under ``profile_sha256`` (with its
    ``report.html`` when ``report``, and the files of ``exports``) that ran every one of ``stages`` (None: every
    stage of the profile; a document without ``stages`` ran them all, one with it only its ``ran``)."""
    if not (folder / STRUCTURE_FILE).is_file():
        return False
    try:
        doc = read_structure(folder).document
    except StructureError:
        return False
    profile = doc["profile"]
    if doc["video"]["sha256"] != video_sha256 or (profile["sha256"] if profile else None) != profile_sha256:
        return False
    if "stages" in doc and (stages is None or not set(stages) <= set(doc["stages"]["ran"])):
        return False  # a partial analysis: the stages wanted now did not all run
    files = [t["path"] for t in doc["thumbnails"]]
    if doc["embeddings"] is not None:
        files.append(doc["embeddings"]["file"])
    if report:
        files.append(REPORT_FILE)
    files += [EXPORT_FILES[fmt] for fmt in exports]
    return all((folder / f).is_file() for f in files)


def _already_done(out: Path, video_id: str, path: str, settings: AnalyzeSettings) -> bool:
    folder = out / video_id
    if not (folder / STRUCTURE_FILE).is_file():
        return False
    try:
        sha = sha256_file(path)
    except OSError:
        return False
    return is_done(
        folder, sha, settings.profile_sha256, report=settings.report, exports=settings.exports,
        stages=settings.run_stages(),
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------- one job
#
# A job is ``(video_id, path, out_dir)``; its result a plain dict: ``{"video_id", "ok": True, "result"}`` or
# ``{"video_id", "ok": False, "error"}``.


def _run_job(
    models: AnalyzeModels, video_id: str, path: str, out_dir: str, progress: ProgressFn | None = None
) -> dict[str, Any]:
    try:
        result = analyze_video(models, path, out_dir, video_id=video_id, progress=progress)
    except VidstructError as exc:
        return {"video_id": video_id, "ok": False, "error": str(exc)}
    except OSError as exc:
        where = exc.filename if exc.filename is not None else path
        return {"video_id": video_id, "ok": False, "error": f"{where}: {exc.strerror or exc}"}
    except Exception as exc:  # one bad video must not stop the others; the message says what happened
        log.debug("%s: unexpected error", path, exc_info=True)
        return {"video_id": video_id, "ok": False, "error": f"{path}: {type(exc).__name__}: {exc}"}
    return {"video_id": video_id, "ok": True, "result": result.to_dict()}


_WORKER: dict[str, Any] = {}
_PRELOAD = ["torch", "vidstruct.pipeline.analyze"]


def _init_worker(settings: AnalyzeSettings, threads: int) -> None:
    torch.set_num_threads(max(1, threads))
    _WORKER["models"] = load_models(settings)


def _pool_job(job: tuple[str, str, str]) -> dict[str, Any]:
    return _run_job(_WORKER["models"], *job)


def _ray_job(settings: AnalyzeSettings, threads: int, video_id: str, path: str, out_dir: str) -> dict[str, Any]:
    key = f"ray:{settings!r}"
    if key not in _WORKER:
        torch.set_num_threads(max(1, threads))
        _WORKER.clear()
        _WORKER[key] = load_models(settings)
    return _run_job(_WORKER[key], video_id, path, out_dir)


def _pool_context() -> BaseContext:
    """``forkserver`` where available (workers fork from a server that imported torch once), else ``spawn``."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - Windows


def _died(video_id: str, path: str, death: WorkerDied) -> dict[str, Any]:
    return {"video_id": video_id, "ok": False, "error": f"{path}: {death}"}


def _run_pool(settings: AnalyzeSettings, jobs: list[tuple[str, str, str]], workers: int) -> Iterator[dict[str, Any]]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    outcomes = map_surviving(
        _pool_job, jobs, workers=workers, mp_context=_pool_context(), initializer=_init_worker,
        initargs=(settings, threads),
    )  # fmt: skip
    for (video_id, path, _), outcome in outcomes:
        yield _died(video_id, path, outcome) if isinstance(outcome, WorkerDied) else outcome


def _run_ray(
    ray: Any, settings: AnalyzeSettings, jobs: list[tuple[str, str, str]], workers: int
) -> Iterator[dict[str, Any]]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    remote = ray.remote(num_cpus=1, max_retries=0)(_ray_job)
    refs = {remote.remote(settings, threads, *job): job for job in jobs}
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            video_id, path, _ = refs.pop(ref)
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # loading the models failed in the task
                cause = getattr(exc, "cause", None) or exc
                yield {"video_id": video_id, "ok": False, "error": f"{path}: {type(cause).__name__}: {cause}"}
            except ray.exceptions.RayError as exc:  # the worker process died or its node left
                yield _died(video_id, path, WorkerDied(f"Ray: {type(exc).__name__}"))


# ----------------------------------------------------------------------------------------------- collection


def _write_run_file(out: Path, settings: AnalyzeSettings, videos: Mapping[str, str], status: dict[str, Any]) -> None:
    write_json_atomic(
        out / RUN_FILE,
        {
            "format": RUN_FORMAT,
            "profile": {"name": settings.profile_name, "sha256": settings.profile_sha256},
            "videos": {vid: {"path": videos[vid], **status[vid]} for vid in videos if vid in status},
        },
    )


def analyze_videos(
    settings: AnalyzeSettings,
    videos: Mapping[str, str],
    out_dir: str | os.PathLike[str],
    *,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    progress: CollectionProgress | None = None,
    on_result: ResultFn | None = None,
) -> CollectionReport:
    """Analyze ``videos`` (``{video_id: path}``) into ``out_dir`` (see the module doc).

    ``progress`` reports the stages of videos analyzed in this process (``workers == 1`` without Ray);
    ``on_result(video_id, "done" | "skipped" | "failed")`` follows every video.

    Raises:
        CheckpointError / ConfigError: a model cannot be loaded (before any video starts).
        RayUnavailableError: ``ray`` without Ray installed, or no Ray cluster answers at ``ray_address``.
    """
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    report = CollectionReport(out_dir=out, profile_sha256=settings.profile_sha256)
    status: dict[str, Any] = {}
    parallel = ray or workers > 1
    jobs: list[tuple[str, str, str]] = []
    for video_id, path in videos.items():
        if _already_done(out, video_id, path, settings):
            report.skipped.append(video_id)
            status[video_id] = {"status": "skipped"}
        else:
            jobs.append((video_id, str(path), str(out)))
    # load (and check) the models before any video: a bad checkpoint is one error, not one per video
    models = load_models(settings if not parallel else _on_cpu(settings)) if jobs else None
    if on_result is not None:
        for video_id in report.skipped:
            on_result(video_id, "skipped")
    with contextlib.ExitStack() as stack:
        ray_mod = stack.enter_context(ray_session(ray_address, num_cpus=workers)) if ray and jobs else None
        out.mkdir(parents=True, exist_ok=True)
        if status:
            _write_run_file(out, settings, videos, status)
        results: Iterable[dict[str, Any]]
        if ray_mod is not None:
            del models
            results = _run_ray(ray_mod, settings, jobs, workers)
        elif workers > 1 and jobs:
            del models
            results = _run_pool(settings, jobs, min(workers, len(jobs)))
        else:
            assert models is not None or not jobs
            results = (
                _run_job(models, vid, path, od, _video_progress(progress, vid) if progress else None)  # type: ignore[arg-type]
                for vid, path, od in jobs
            )
        stack.callback(getattr(results, "close", lambda: None))
        for result in results:
            video_id = result["video_id"]
            if result["ok"]:
                report.done[video_id] = result["result"]
                status[video_id] = {"status": "done"}
            else:
                report.failed[video_id] = result["error"]
                status[video_id] = {"status": "failed", "error": result["error"]}
            _write_run_file(out, settings, videos, status)
            if on_result is not None:
                on_result(video_id, status[video_id]["status"])
    return report


def _on_cpu(settings: AnalyzeSettings) -> AnalyzeSettings:
    """The settings with ``device: cpu``: the main process only checks the models when workers do the work."""
    resolve_device(settings.device)  # a device this machine lacks fails here, once
    return replace(settings, device="cpu")


def _video_progress(progress: CollectionProgress, video_id: str) -> ProgressFn:
    return lambda stage, done_s, total_s: progress(video_id, stage, done_s, total_s)
