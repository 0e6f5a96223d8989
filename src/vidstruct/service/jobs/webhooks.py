"""Webhooks: when a job ends (SUCCEEDED or FAILED), ``POST`` its outcome to the job's ``webhook_url``.

Body: JSON ``{job_id, status, job_tag, video_id, finished_at}`` (UTF-8, keys sorted; a reel job adds ``kind:
"reel"`` and ``reel_id``). Header
``X-Vidstruct-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the service's webhook secret, so
a receiver can check the call came from this service (compare with :func:`hmac.compare_digest`). A 2xx answer is a
delivery; anything else (another status, a refused connection, a timeout) is retried after ``backoff_s``,
``2 × backoff_s``, ``4 × backoff_s``... up to ``max_attempts`` tries. Every try is a ``webhook_deliveries`` row.

The secret is ``ServiceSettings.webhook_secret``, else the ``VIDSTRUCT_WEBHOOK_SECRET`` environment variable,
else ``DATA/webhook.secret`` (made with 32 random bytes on first use, readable by its owner only).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.atomic import write_text_atomic
from vidstruct.service.db.models import Job, WebhookDelivery
from vidstruct.service.db.session import transaction
from vidstruct.service.settings import ServiceSettings

SIGNATURE_HEADER = "X-Vidstruct-Signature"
_SECRET_FILE = "webhook.secret"
_secret_lock = threading.Lock()


def webhook_secret(settings: ServiceSettings) -> bytes:
    """The secret webhook bodies are signed with (see the module doc)."""
    if settings.webhook_secret:
        return settings.webhook_secret.encode()
    env = os.environ.get("VIDSTRUCT_WEBHOOK_SECRET")
    if env:
        return env.encode()
    path = settings.data_dir / _SECRET_FILE
    with _secret_lock:
        if not path.is_file():
            write_text_atomic(path, secrets.token_hex(32) + "\n")
            os.chmod(path, 0o600)
        return path.read_text().strip().encode()


def sign(body: bytes, secret: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def payload(job: Job) -> bytes:
    """The JSON body of ``job``'s webhook."""
    body = {
        "job_id": job.id,
        "status": job.status,
        "job_tag": job.job_tag,
        "video_id": job.video_id,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.kind == "reel":  # analysis jobs keep the body they always had
        body.update(kind=job.kind, reel_id=job.reel_id)
    return json.dumps(body, sort_keys=True).encode()


def deliver(
    factory: sessionmaker[Session],
    settings: ServiceSettings,
    job_id: str,
    *,
    client: httpx.Client | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Call the webhook of job ``job_id`` (if it has one) until a 2xx answer or ``settings.webhook_attempts``
    tries; True when delivered."""
    with factory() as session:
        job = session.get(Job, job_id)
        if job is None or not job.webhook_url or job.status not in ("SUCCEEDED", "FAILED"):
            return False
        url, body = job.webhook_url, payload(job)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, webhook_secret(settings))}
    own = client is None
    client = client or httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)
    try:
        for attempt in range(1, settings.webhook_attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                status = client.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            ok = status is not None and 200 <= status < 300
            _record(factory, job_id, url, attempt, status, error if not ok and error else None, ok)
            if ok:
                return True
            if attempt < settings.webhook_attempts:
                wait = settings.webhook_backoff_s * 2 ** (attempt - 1)
                if stop is not None and stop.wait(wait):
                    return False
                if stop is None:
                    time.sleep(wait)
        return False
    finally:
        if own:
            client.close()


def _record(
    factory: sessionmaker[Session], job_id: str, url: str, attempt: int, status: int | None, error: str | None, ok: bool
) -> None:
    with transaction(factory) as session:
        session.add(
            WebhookDelivery(job_id=job_id, url=url, attempt=attempt, status_code=status, error=error, delivered=ok)
        )


def deliver_in_background(
    factory: sessionmaker[Session], settings: ServiceSettings, job_id: str, **kw: Any
) -> threading.Thread:
    """:func:`deliver` in a daemon thread (the worker goes on with its next job meanwhile)."""
    thread = threading.Thread(target=deliver, args=(factory, settings, job_id), kwargs=kw, daemon=True,
                              name=f"webhook-{job_id}")  # fmt: skip
    thread.start()
    return thread
