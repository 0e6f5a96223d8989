"""Rendering a queued reel in a worker (a ``jobs`` row of kind ``reel``, claimed like any job).

The worker holds the job's lease (renewed by its lease thread) while the reel is cut into
``DATA/reels/<reel id>/<attempt>/`` (``reel.mp4`` and ``reel.chapters.vtt``, each written atomically). The reel's
row (mode, parts, folder) and the job's ``SUCCEEDED`` are then stored in one transaction, only while this worker
still holds the job: a worker killed mid-render leaves a folder no row names, the job is taken again once its lease
expires, and the attempt that commits removes the other attempts' folders, so one reel is written once. A canceled
job (or one taken over) stores nothing and its folder is removed. A request the data can no longer satisfy, a
gone or unreadable video, fail the job with a one-line reason (no server path in it).

Stopping mid-cut: before each frame it writes, the cut asks :func:`run_reel_job`'s ``should_stop``, which notes the
progress (``{"render": percent}``) and, on the first frame and then at most every :data:`CHECK_EVERY_S` seconds,
renews the lease with it (a conditional write, as the analysis jobs' progress reports do): when the job is no
longer held (canceled with ``DELETE /v1/jobs/{id}`` or ``DELETE /v1/reels/{id}``, or taken over) or the lease
thread has seen that, the cut stops at once, its temporary file and the attempt's folder are removed, the job keeps
the status the canceller gave it (``CANCELED``) and the worker goes on with its next job. A stop request of the
worker (``stop`` set: SIGTERM / SIGINT) stops the cut the same way and gives the job back to the queue.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.errors import VidstructError
from vidstruct.pipeline.reels import ReelCanceled
from vidstruct.pipeline.reels.cut import StopFn
from vidstruct.service.db.models import Job, Reel, Video
from vidstruct.service.jobs.intake import video_file
from vidstruct.service.jobs.queue import complete_held, fail_job, release_job, renew_lease
from vidstruct.service.reels.render import ReelRequest, choose, cut, part_views
from vidstruct.service.settings import ServiceSettings

__all__ = ["CHECK_EVERY_S", "reel_folder", "run_reel_job"]
log = logging.getLogger(__name__)

#: seconds between two reads of the job's row while a reel is cut (each a lease renewal storing the progress)
CHECK_EVERY_S = 0.5


def reel_folder(reel_id: str, attempt: int) -> str:
    """The folder (relative to the data folder) attempt ``attempt`` of reel ``reel_id`` is cut into."""
    return f"reels/{reel_id}/{attempt}"


def _one_line(message: str, path: Path | None, video_id: str) -> str:
    if path is not None:
        message = message.replace(str(path), f"video {video_id}")
    return " ".join(message.split())[:500]


def _stopper(
    settings: ServiceSettings,
    factory: sessionmaker[Session],
    job: Job,
    worker_id: str,
    lost: threading.Event,
    stop: threading.Event | None,
    progress: dict[str, float],
) -> StopFn:
    """The cut's ``should_stop(done_frames, total_frames)``: notes the progress (percent), renews the lease with it
    on the first frame and then at most every :data:`CHECK_EVERY_S` seconds (setting ``lost`` when the job is no
    longer held); True once ``lost`` or ``stop`` is set."""
    last_check = [-float("inf")]

    def should_stop(done: int, total: int) -> bool:
        progress["render"] = round(100.0 * done / total, 1) if total > 0 else 0.0
        now = time.monotonic()
        if now - last_check[0] >= CHECK_EVERY_S:
            last_check[0] = now
            try:
                if not renew_lease(factory, job.id, worker_id, settings.lease_s, progress):
                    lost.set()
            except SQLAlchemyError as exc:  # a database hiccup: asked again later, the lease has slack
                log.warning("reel job %s: checking the job failed (%s)", job.id, type(exc).__name__)
        return lost.is_set() or (stop is not None and stop.is_set())

    return should_stop


def run_reel_job(
    settings: ServiceSettings,
    factory: sessionmaker[Session],
    job: Job,
    worker_id: str,
    *,
    lost: threading.Event,
    stop: threading.Event | None = None,
    progress: dict[str, float] | None = None,
) -> str:
    """Render the reel of claimed job ``job`` (see the module doc); ``lost`` is set by the lease thread when the
    job is no longer this worker's, ``stop`` when the worker is asked to stop; ``progress`` (the dict the lease
    thread stores) gets ``{"render": percent}``. Returns ``succeeded | failed | lost | released``."""
    with factory() as session:
        reel = session.get(Reel, job.reel_id) if job.reel_id else None
        video = session.get(Video, reel.video_id) if reel is not None else None
        if reel is None or video is None:
            return "failed" if fail_job(factory, job.id, worker_id, "the reel or its video was deleted") else "lost"
        reel_id, video_id, analysis_id = reel.id, reel.video_id, reel.analysis_id
        source = video_file(video, settings.data_dir)
        try:
            request = ReelRequest.from_json(video_id, reel.request)
            rows, picks = choose(session, analysis_id, request)
        except VidstructError as exc:
            return _fail(factory, job, worker_id, _one_line(str(exc), source, video_id))
    relative = reel_folder(reel_id, job.attempts)
    folder = settings.data_dir / relative
    shutil.rmtree(folder, ignore_errors=True)
    should_stop = _stopper(settings, factory, job, worker_id, lost, stop, {} if progress is None else progress)
    try:
        made = cut(picks, source, folder, should_stop)
    except ReelCanceled as exc:  # its temporary file is gone already; the chapters were not written yet
        shutil.rmtree(folder, ignore_errors=True)
        if lost.is_set() or not release_job(factory, job.id, worker_id):
            log.info("reel job %s: no longer this worker's (canceled or taken over): %s", job.id, exc)
            return "lost"
        log.info("reel job %s: given back to the queue (the worker is stopping): %s", job.id, exc)
        return "released"
    except Exception as exc:  # a gone or unreadable video (ReelError, VideoDecodeError), a full disk, a bug
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, VidstructError):
            reason = _one_line(str(exc), source, video_id)
        elif isinstance(exc, OSError):
            reason = f"{exc.strerror or type(exc).__name__} (errno {exc.errno})"
        else:
            log.error("reel job %s: internal error (%s)", job.id, type(exc).__name__)
            reason = f"internal error: {type(exc).__name__}: {_one_line(str(exc), source, video_id)}"
        return _fail(factory, job, worker_id, reason)
    if lost.is_set():
        shutil.rmtree(folder, ignore_errors=True)
        return "lost"
    values: dict[str, Any] = {
        "status": "SUCCEEDED", "mode": made.plan.mode, "reason": made.plan.reason,
        "duration_s": round(made.plan.duration_s, 3), "frames": made.plan.num_frames,
        "parts": part_views(made, rows), "folder": relative,
    }  # fmt: skip

    def store(session: Session) -> None:
        session.execute(update(Reel).where(Reel.id == reel_id).values(**values))

    if not complete_held(factory, job, worker_id, store, {"render": 100.0}):
        shutil.rmtree(folder, ignore_errors=True)
        return "lost"
    for other in (settings.data_dir / "reels" / reel_id).iterdir():  # what workers that died on it had started
        if other.name != str(job.attempts):
            shutil.rmtree(other, ignore_errors=True)
    return "succeeded"


def _fail(factory: sessionmaker[Session], job: Job, worker_id: str, reason: str) -> str:
    return "failed" if fail_job(factory, job.id, worker_id, reason) else "lost"
