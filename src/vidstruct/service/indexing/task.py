"""One video indexed in this process: hash, skip, probe, register, analyze, store once, update the similar index.

:class:`VideoIndexer` holds what a process keeps between videos: the database engine, the moderation policy and
the models (loaded at the first video that needs analysing, so a rerun over an indexed collection loads none).
:meth:`VideoIndexer.index` never raises for a bad video: every outcome is a plain dict (picklable, it crosses
process and Ray boundaries)::

    {"name", "path", "status": "indexed" | "skipped" | "failed", "reason", "video_id", "job_id", "segments"}

The order is what makes a rerun cheap and the writes exactly-once: the file's SHA-256 first (a video already
indexed with the same content and profile hash is skipped before it is decoded), then the probe (a file that is
not a readable video fails here), the analysis into ``DATA/analyses/JOB_ID/VIDEO_ID/`` and the one storing
transaction of :func:`~vidstruct.service.indexing.store.store_indexed`, which adds the video row too when its
content has none: a video that fails anywhere leaves no row, so the collection (search, the job listing, the
web pages) holds only indexed videos. ``VIDEO_ID`` is the existing row's id, else one derived from the job id, so
an attempt run again with the same job id (a pool or Ray retry after a dead worker) writes over the folder the
dead attempt left. A writer that finds the key stored meanwhile removes its folder and reports the video
skipped; one that finds it stored by its own job id (the dead attempt had committed) reports it indexed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidstruct.errors import VidstructError
from vidstruct.io import probe
from vidstruct.pipeline.analyze import AnalyzeModels, AnalyzeSettings, analyze_video, load_models
from vidstruct.service.db.models import new_id, utc_now
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.indexing.store import NewVideo, is_indexed, own_earlier_attempt, store_indexed
from vidstruct.service.jobs.intake import find_video, sha256_of
from vidstruct.service.moderation.runtime import PolicySource
from vidstruct.service.settings import DEFAULT_FEATURES
from vidstruct.service.similar.updates import index_finished_job
from vidstruct.structure import read_structure, write_structure

__all__ = ["KILL_ONCE_ENV", "IndexTarget", "VideoIndexer", "outcome"]

log = logging.getLogger(__name__)

#: test hook: ``NAME:MARKER`` makes the first process that analysed video ``NAME`` SIGKILL itself before storing
#: (and create the file ``MARKER``, so the retried task goes on): a worker dying at the worst moment, on purpose;
#: ``NAME:MARKER:N``: the first ``N`` processes do (files ``MARKER``, ``MARKER.2`` ... ``MARKER.N``)
KILL_ONCE_ENV = "VIDSTRUCT_INDEX_KILL_ONCE"


@dataclass(frozen=True)
class IndexTarget:
    """Where and how results are stored (picklable: it travels to pool workers and Ray tasks).

    ``db_url``: the service's database; ``data_dir``: its data folder, absolute (analysis folders go under
    ``analyses/``, the similar-moments index under ``indexes/``); ``profile_name``: what the job rows name;
    ``job_tag``: the tag of the job rows; ``features``: the result rows indexed (as a service job's);
    ``policy_path``: the moderation policy each stored video is checked against (None: none).
    """

    db_url: str
    data_dir: str
    profile_name: str
    job_tag: str = "vidstruct-index"
    features: tuple[str, ...] = DEFAULT_FEATURES
    policy_path: str | None = None


def outcome(name: str, path: str, status: str, reason: str = "", **more: Any) -> dict[str, Any]:
    """A video's outcome (see the module doc)."""
    return {"name": name, "path": path, "status": status, "reason": reason, "video_id": None, "job_id": None,
            "segments": None, **more}  # fmt: skip


class VideoIndexer:
    """Indexes videos into ``target`` with analysis ``settings`` (see the module doc)."""

    def __init__(self, target: IndexTarget, settings: AnalyzeSettings) -> None:
        if not settings.profile_sha256:
            raise ValueError("indexing needs the profile hash")
        self.target, self.settings = target, settings
        self.data_dir = Path(target.data_dir)
        self.engine = make_engine(target.db_url)
        self.factory = session_factory(self.engine)
        self.policy = PolicySource(Path(target.policy_path) if target.policy_path else None)
        self.policy.current(strict=True)  # a malformed policy: one error now, not one per video
        self._models: AnalyzeModels | None = None

    def close(self) -> None:
        self.engine.dispose()

    def models(self) -> AnalyzeModels:
        if self._models is None:
            self._models = load_models(self.settings)
        return self._models

    def index(self, name: str, path: str, job_id: str | None = None) -> dict[str, Any]:
        """Index the video at ``path`` (``name``: how reports call it); its outcome dict. ``job_id``: the id of its
        job row and analysis folder (default: a new one; the process pool passes one chosen per video, a Ray task one
        derived from its task id: the same for every attempt, so a retry writes over what a killed attempt left
        instead of beside it, and finds what a killed attempt had stored)."""
        file = Path(path)
        started = utc_now()
        try:
            with open(file, "rb") as fh:
                sha = sha256_of(fh)
                size = os.fstat(fh.fileno()).st_size
        except OSError as exc:
            return outcome(name, path, "failed", f"cannot read the file ({exc.strerror or type(exc).__name__})")
        job_id = job_id or new_id()
        with self.factory() as session:
            earlier = own_earlier_attempt(session, sha, self.settings.profile_sha256 or "", job_id)
            if earlier is not None:  # this job's earlier attempt stored it, then its process died
                return self._indexed(name, path, job_id, earlier.video_id, len(earlier.document["segments"]))
            if is_indexed(session, sha, self.settings.profile_sha256 or "", self.target.features):
                return outcome(name, path, "skipped", "already indexed (same content and profile)")
            existing = find_video(session, sha)
            known = existing.id if existing is not None else None  # a failure reports the row only if there is one
        try:
            info = probe(file).to_dict()
        except VidstructError as exc:
            return outcome(name, path, "failed", _one_line(str(exc)), video_id=known)
        video_id = known or hashlib.sha256(f"vidstruct-index-video\0{job_id}".encode()).hexdigest()[:32]
        out = self.data_dir / "analyses" / job_id
        try:
            result = analyze_video(self.models(), file, out, video_id=video_id)
            document = dict(read_structure(result.structure).document)
        except Exception as exc:  # a bad video (or a bug) fails this video, the others go on
            shutil.rmtree(out, ignore_errors=True)
            if isinstance(exc, OSError):
                reason = f"{exc.strerror or type(exc).__name__}" + (f": {exc.filename}" if exc.filename else "")
            elif isinstance(exc, VidstructError):
                reason = str(exc)
            else:
                log.debug("%s: unexpected error", path, exc_info=True)
                reason = f"internal error: {type(exc).__name__}: {exc}"
            return outcome(name, path, "failed", _one_line(reason), video_id=known)
        _kill_once_hook(name)
        try:
            stored = store_indexed(
                self.factory, job_id=job_id, video_id=video_id, sha256=sha, profile_name=self.target.profile_name,
                document=document, folder=str(result.folder.relative_to(self.data_dir)),
                features=self.target.features, job_tag=self.target.job_tag, started_at=started,
                check=self.policy.check_hook(), new=NewVideo(file.resolve(), size, info),
            )  # fmt: skip
        except Exception as exc:  # rolled back: nothing of this video was stored
            shutil.rmtree(out, ignore_errors=True)
            reason = f"storing the results failed: {type(exc).__name__}: {exc}"
            return outcome(name, path, "failed", _one_line(reason), video_id=known)
        if stored is None:
            shutil.rmtree(out, ignore_errors=True)
            return outcome(name, path, "skipped", "indexed by another run meanwhile", video_id=known)
        if stored != video_id:  # its content was registered meanwhile (an upload): the file names that row too
            try:
                write_structure(result.folder, document)  # type: ignore[arg-type]
            except Exception as exc:  # the database's copy, the one served, names it already
                log.warning("%s: rewriting structure.json failed (%s)", name, type(exc).__name__)
        return self._indexed(name, path, job_id, stored, len(document["segments"]))

    def _indexed(self, name: str, path: str, job_id: str, video_id: str, segments: int) -> dict[str, Any]:
        """The outcome of a video stored as job ``job_id``, after syncing the similar-moments index."""
        try:  # after the commit: a failure here is repaired by the next similar-moments query
            index_finished_job(self.data_dir, self.factory, job_id)
        except Exception as exc:
            log.warning("%s: updating the similar-moments index failed (%s)", name, type(exc).__name__)
        return outcome(name, path, "indexed", video_id=video_id, job_id=job_id, segments=segments)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _kill_once_hook(name: str) -> None:
    spec = os.environ.get(KILL_ONCE_ENV)
    if not spec:
        return
    target, _, rest = spec.partition(":")
    marker, _, times = rest.partition(":")
    if target != name or not marker:
        return
    for attempt in range(1, int(times or 1) + 1):
        try:  # only the first attempt gets to create each file
            fd = os.open(marker if attempt == 1 else f"{marker}.{attempt}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
