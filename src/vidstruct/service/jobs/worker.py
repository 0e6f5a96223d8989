"""A worker: claims jobs from the database, runs their analysis, stores the results, one job at a time.

While a job runs, its progress (percent per stage) is stored at its first report and then at most once a
second, renewing the lease; a lease thread also renews it every third of the lease (model loading and long
stages report nothing) and records the worker's heartbeat. When a renewal finds the job no longer held
(canceled, or taken by another worker after this one stalled past its lease) the analysis stops at its next
progress report and nothing is stored. A stop request (SIGTERM / SIGINT with :func:`install_signal_handlers`)
ends the worker after releasing the job in hand back to the queue. Any error of the analysis (a corrupt video,
a bad profile, a full disk) fails the job for good with a one-line reason; the worker goes on with the next job.
A job's features choose the stages that run and the rows stored (:func:`.analysis.job_features`: with a moderation
policy, what its rules read too). A job's results are checked against the moderation policy (``settings.policy_path``,
if any) in the transaction that stores them (:mod:`vidstruct.service.moderation`). A job that ends (SUCCEEDED or
FAILED) with a webhook URL gets an outbox row in the transaction that ends it (:mod:`.outbox`); a thread of every
worker delivers the outbox's due webhooks, whatever worker finished their jobs (:mod:`.deliverer`). A stop request
ends that thread after its try in hand, releasing its leased webhooks; a run that ends otherwise (``max_jobs``,
``exit_when_idle``) first delivers every pending webhook (each ends delivered or failed). Reel jobs (kind ``reel``)
are rendered by :func:`vidstruct.service.reels.job.run_reel_job` under the same lease thread, with the same
webhooks; a cut stops within a frame of seeing its job canceled (or the worker asked to stop: the job is released),
its files removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from vidstruct.errors import VidstructError
from vidstruct.service.db.models import Job, Video
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.jobs.analysis import ModelCache, job_features, run_analysis
from vidstruct.service.jobs.deliverer import WebhookDeliverer
from vidstruct.service.jobs.intake import video_file
from vidstruct.service.jobs.queue import (
    claim_job,
    complete_job,
    fail_job,
    release_job,
    renew_lease,
    worker_gone,
    worker_heartbeat,
)
from vidstruct.service.moderation.runtime import PolicySource
from vidstruct.service.reels.job import run_reel_job
from vidstruct.service.settings import ServiceSettings
from vidstruct.service.similar.updates import index_finished_job

log = logging.getLogger(__name__)
_PROGRESS_EVERY_S = 1.0


class _LeaseLost(Exception):
    """The job is no longer this worker's (canceled or taken over)."""


class _Stopping(Exception):
    """The worker was asked to stop."""


class _LeaseKeeper(threading.Thread):
    """Renews a job's lease (storing its progress) until stopped; sets ``lost`` when the job is gone."""

    def __init__(self, worker: JobWorker, job: Job, progress: dict[str, float]) -> None:
        super().__init__(name=f"lease-{job.id}", daemon=True)
        self.worker, self.job, self.progress = worker, job, progress
        self.lost = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        settings = self.worker.settings
        every = min(settings.lease_s / 3, settings.heartbeat_s)
        while not self.done.wait(every):
            try:
                held = renew_lease(self.worker.factory, self.job.id, self.worker.id, settings.lease_s, self.progress)
                worker_heartbeat(self.worker.factory, self.worker.id, os.getpid(), self.job.id)
            except Exception as exc:  # a database hiccup: try again next round, the lease has slack
                log.warning("lease renewal failed: %s", type(exc).__name__)
                continue
            if not held:
                self.lost.set()
                return


class JobWorker:
    """One worker (see the module doc). ``stop`` ends :meth:`run` (set it from a signal handler)."""

    def __init__(
        self, settings: ServiceSettings, *, factory: sessionmaker[Session] | None = None, worker_id: str | None = None
    ) -> None:
        self.settings = settings
        self.factory = factory or session_factory(make_engine(settings.database_url))
        self.id = worker_id or f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.stop = threading.Event()
        self.cache = ModelCache()
        self.policy = PolicySource(settings.policy_path)  # moderation: every finished job is checked
        self.policy.current(strict=True)  # a malformed policy file: one line now, before any job is claimed
        self.webhooks = WebhookDeliverer(self.factory, settings, self.id, self.stop)

    def run(self, *, max_jobs: int | None = None, exit_when_idle: bool = False) -> int:
        """Claim and run jobs until stopped (or ``max_jobs`` ran, or none is left with ``exit_when_idle``);
        returns the number of jobs run."""
        done = 0
        worker_heartbeat(self.factory, self.id, os.getpid(), None)
        self.webhooks.start()
        try:
            while not self.stop.is_set() and (max_jobs is None or done < max_jobs):
                try:
                    job = claim_job(
                        self.factory, self.id, lease_s=self.settings.lease_s, max_attempts=self.settings.max_attempts
                    )
                except Exception as exc:  # the database is unreachable for a moment: try again after a poll
                    log.warning("claiming a job failed: %s", type(exc).__name__)
                    self.stop.wait(self.settings.poll_s)
                    continue
                if job is None:
                    if exit_when_idle:
                        break
                    worker_heartbeat(self.factory, self.id, os.getpid(), None)
                    self.stop.wait(self.settings.poll_s)
                    continue
                self.process(job)
                done += 1
            self.webhooks.halt()
            if not self.stop.is_set():  # not asked to stop: the pending webhooks are delivered (or fail) first
                self.webhooks.drain()
        finally:
            self.webhooks.halt()  # a no-op when halted above; releases the leased webhooks
            worker_gone(self.factory, self.id)
        return done

    def process(self, job: Job) -> str:
        """Run a claimed job to its end; returns what happened (``succeeded | failed | released | lost``)."""
        if job.kind == "reel":
            return self._process_reel(job)
        with self.factory() as session:
            video = session.get(Video, job.video_id) if job.video_id else None
        if video is None:
            fail_job(self.factory, job.id, self.id, "the job's video was deleted")
            return "failed"
        out_name = f"{job.id}-{job.attempts}"
        progress: dict[str, float] = {}
        keeper = _LeaseKeeper(self, job, progress)

        last_write = [-float("inf")]

        def on_progress(stage: str, done_s: float, total_s: float) -> None:
            progress[stage] = round(100.0 * min(1.0, done_s / total_s) if total_s > 0 else 100.0, 1)
            now = time.monotonic()
            if now - last_write[0] >= _PROGRESS_EVERY_S:  # the first report at once, then at most once a second
                last_write[0] = now
                if not renew_lease(self.factory, job.id, self.id, self.settings.lease_s, progress):
                    keeper.lost.set()
            if keeper.lost.is_set():
                raise _LeaseLost
            if self.stop.is_set():
                raise _Stopping

        path = video_file(video, self.settings.data_dir)
        features = job_features(job.features, self.policy.current())  # what is analysed and stored
        keeper.start()
        try:
            output = run_analysis(
                self.settings, self.cache, job.profile, path, video.id, out_name, on_progress, features
            )
        except _LeaseLost:
            return self._discard(out_name, "lost")
        except _Stopping:
            release_job(self.factory, job.id, self.id)
            return self._discard(out_name, "released")
        except VidstructError as exc:
            return self._failed(job, out_name, _one_line(str(exc), path, video.id))
        except OSError as exc:  # a full disk, an unreadable file
            reason = exc.strerror or type(exc).__name__
            return self._failed(job, out_name, f"{reason} (errno {exc.errno})" if exc.errno else reason)
        except Exception as exc:  # a bug: the job fails with the reason, the worker keeps serving
            # the traceback only at debug level: its text may quote the video's path
            log.error("job %s: internal error (%s)", job.id, type(exc).__name__)
            log.debug("job %s: internal error", job.id, exc_info=exc)
            return self._failed(
                job, out_name, f"internal error: {type(exc).__name__}: {_one_line(str(exc), path, video.id)}"
            )
        finally:
            keeper.done.set()
            keeper.join()
        if keeper.lost.is_set():
            return self._discard(out_name, "lost")
        # every stage ran to its end: a stage's last report may stop short of 100% (its last window ends before
        # the video does), and a finished job should not read 97%
        progress.update(dict.fromkeys(progress, 100.0))
        try:
            stored = complete_job(
                self.factory, job, self.id, output.document, output.folder, progress, check=self.policy.check_hook(),
                features=features,
            )  # fmt: skip
        except Exception as exc:  # storing the results or the moderation check failed: rolled back, the job fails
            log.error("job %s: storing the results failed (%s)", job.id, type(exc).__name__)
            log.debug("job %s: storing the results failed", job.id, exc_info=exc)
            reason = f"storing the results failed: {type(exc).__name__}: {_one_line(str(exc), path, video.id)}"
            return self._failed(job, out_name, reason)
        if not stored:
            return self._discard(out_name, "lost")
        try:  # after the commit: a failure leaves the job succeeded (the next similar query syncs the index)
            index_finished_job(self.settings.data_dir, self.factory, job.id)
        except Exception as exc:
            log.warning("job %s: updating the similar-moments index failed (%s)", job.id, type(exc).__name__)
            log.debug("job %s: updating the similar-moments index failed", job.id, exc_info=exc)
        for attempt in range(1, job.attempts):  # what workers that died on this job had started writing
            shutil.rmtree(self.settings.analyses_dir / f"{job.id}-{attempt}", ignore_errors=True)
        return "succeeded"

    def _process_reel(self, job: Job) -> str:
        progress: dict[str, float] = {}
        keeper = _LeaseKeeper(self, job, progress)
        keeper.start()
        try:
            return run_reel_job(
                self.settings, self.factory, job, self.id, lost=keeper.lost, stop=self.stop, progress=progress
            )
        finally:
            keeper.done.set()
            keeper.join()

    def _failed(self, job: Job, out_name: str, reason: str) -> str:
        fail_job(self.factory, job.id, self.id, reason)
        return self._discard(out_name, "failed")

    def _discard(self, out_name: str, outcome: str) -> str:
        shutil.rmtree(self.settings.analyses_dir / out_name, ignore_errors=True)
        return outcome


def _one_line(message: str, path: Path, video_id: str) -> str:
    """``message`` on one line, with the video's path on this machine replaced by its id."""
    text = " ".join(message.replace(str(path), f"video {video_id}").split())
    return text[:500]


def install_signal_handlers(worker: JobWorker) -> None:
    """SIGTERM and SIGINT ask ``worker`` to stop (releasing the job in hand)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
