"""The webhook delivery loop every worker process runs beside its jobs (a thread): claim a due outbox row under a
lease, post it (bounded by ``settings.webhook_timeout_s``), record the try, again (:mod:`.outbox`).

Tries per webhook: ``settings.webhook_attempts``; the first retry waits about ``settings.webhook_backoff_s``,
doubling after each try (with jitter). The lease of a claimed row is ``webhook_timeout_s + lease_s`` seconds: a
worker killed mid-try leaves its row to another worker once it expires. A stop request ends the loop after the try
in hand (no new claim) and releases the rows still leased. ``VIDSTRUCT_WEBHOOK_KILL=before_post|after_post`` (a
test hook) makes the process SIGKILL itself right before posting a claimed row, or right after its answer and
before recording it. Before each try the URL passes the SSRF guard (:mod:`.webhook_guard`), resolved once: a
refused URL is recorded as a failed try with the reason and the webhook fails at once; a host that does not resolve
is a failed try like a refused connection (retried).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import utc_now
from vidstruct.service.jobs.outbox import Due, claim_deliveries, next_due, record_try, release_deliveries
from vidstruct.service.jobs.webhook_guard import (
    WebhookRefused,
    WebhookUnresolved,
    check_webhook_url,
    pinned_client_options,
)
from vidstruct.service.jobs.webhooks import post, webhook_secret
from vidstruct.service.settings import ServiceSettings

log = logging.getLogger(__name__)
KILL_ENV = "VIDSTRUCT_WEBHOOK_KILL"


class WebhookDeliverer:
    """Delivers the outbox's due webhooks as worker ``owner`` until ``stop`` (or :meth:`halt`) is set."""

    def __init__(
        self, factory: sessionmaker[Session], settings: ServiceSettings, owner: str, stop: threading.Event
    ) -> None:
        self.factory, self.settings, self.owner, self.stop = factory, settings, owner, stop
        self.halted = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease_s(self) -> float:
        return self.settings.webhook_timeout_s + self.settings.lease_s

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.settings.webhook_timeout_s, **pinned_client_options())

    def _stopping(self) -> bool:
        return self.stop.is_set() or self.halted.is_set()

    def deliver_due(self, client: httpx.Client) -> int:
        """Claim one due webhook and make one try; returns 1, or 0 when none was due."""
        with self.factory() as session:  # a read first: an idle worker's polls take no write lock
            due_at = next_due(session)
        if due_at is None or due_at > utc_now():
            return 0
        claimed = claim_deliveries(self.factory, self.owner, lease_s=self.lease_s,
                                   max_attempts=self.settings.webhook_attempts)  # fmt: skip
        for due in claimed:
            self._try(client, due)
        return len(claimed)

    def _try(self, client: httpx.Client, due: Due) -> None:
        kill = os.environ.get(KILL_ENV)
        if kill == "before_post":
            os.kill(os.getpid(), signal.SIGKILL)
        settings, refused = self.settings, False
        try:
            target = check_webhook_url(due.url, settings)  # DNS may have changed since the job was submitted
        except WebhookUnresolved as exc:
            status, error = None, str(exc)
        except WebhookRefused as exc:
            status, error, refused = None, str(exc), True
            log.warning("webhook of job %s refused by the SSRF guard: %s", due.job_id, exc)
        else:
            status, error = post(client, target, due.body, due.id, webhook_secret(settings))
        if kill == "after_post":
            os.kill(os.getpid(), signal.SIGKILL)
        outcome = record_try(
            self.factory, due, self.owner, status, error, max_attempts=settings.webhook_attempts,
            backoff_s=settings.webhook_backoff_s, final=refused,
        )  # fmt: skip
        if outcome == "failed":
            log.warning("webhook of job %s failed for good after %d tries", due.job_id, due.attempt)

    def loop(self) -> None:
        """Deliver until stopped, looking for due webhooks every ``settings.poll_s`` when there is none; then
        release what is still leased."""
        try:
            with self._client() as client:
                while not self._stopping():
                    try:
                        done = self.deliver_due(client)
                    except Exception as exc:  # the database is unreachable for a moment: again after a poll
                        log.warning("delivering webhooks failed: %s", type(exc).__name__)
                        done = 0
                    if not done:
                        self.halted.wait(self.settings.poll_s)
        finally:
            try:
                release_deliveries(self.factory, self.owner)
            except Exception as exc:
                log.warning("releasing webhook deliveries failed: %s", type(exc).__name__)

    def start(self) -> threading.Thread:
        """:meth:`loop` in a daemon thread."""
        self.halted.clear()
        self._thread = threading.Thread(target=self.loop, name=f"webhooks-{self.owner}", daemon=True)
        self._thread.start()
        return self._thread

    def halt(self) -> None:
        """End the loop's thread (after the try in hand) and wait for it."""
        self.halted.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def drain(self) -> None:
        """Deliver until no webhook is pending (waiting for each retry to fall due) or until ``stop``: every
        pending webhook ends delivered or failed."""
        with self._client() as client:
            while not self.stop.is_set():
                if self.deliver_due(client):
                    continue
                with self.factory() as session:
                    due_at = next_due(session)
                if due_at is None:
                    return
                wait = (due_at - utc_now()) / timedelta(seconds=1)
                self.stop.wait(min(self.settings.poll_s, max(0.0, wait)) or 0.01)
