"""Webhooks' wire format: when a job ends SUCCEEDED or FAILED, its outcome is ``POST``-ed to its ``webhook_url``.

Body: JSON ``{job_id, status, job_tag, video_id, finished_at}`` (UTF-8, keys sorted; a reel job adds ``kind:
"reel"`` and ``reel_id``), made once in the transaction that ends the job and stored in the outbox, so every try
sends the same bytes. Headers: ``X-Vidstruct-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body bytes with
the service's webhook secret (a receiver checks it with :func:`hmac.compare_digest`), and ``X-Vidstruct-Delivery:
<delivery id>``, the same on every try of one webhook, so a receiver can drop the repeats of an at-least-once
delivery. A 2xx answer is a delivery; anything else (another status, a refused connection, a timeout) is retried
(:mod:`.outbox`, :mod:`.deliverer`). Every try first passes the SSRF guard (:mod:`.webhook_guard`: public addresses
only unless allowed; the connection goes to the address checked). A CANCELED job has no webhook: it was canceled
by a request (``DELETE /v1/jobs/{id}``, a deleted video or reel) whose answer already tells the outcome.

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

import httpx

from vidstruct.atomic import write_text_atomic
from vidstruct.service.db.models import Job
from vidstruct.service.jobs.webhook_guard import Target
from vidstruct.service.settings import ServiceSettings

SIGNATURE_HEADER = "X-Vidstruct-Signature"
DELIVERY_HEADER = "X-Vidstruct-Delivery"
#: the final states that call the job's webhook
WEBHOOK_STATUSES = ("SUCCEEDED", "FAILED")
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
    """The JSON body of ``job``'s webhook (``finished_at``: ISO 8601, UTC)."""
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


def post(
    client: httpx.Client, target: Target, body: bytes, delivery_id: str, secret: bytes
) -> tuple[int | None, str | None]:
    """One try to a checked URL (:func:`.webhook_guard.check_webhook_url`), connecting to its checked addresses
    in turn until one accepts the connection: ``(HTTP status, None)`` when the receiver answered, ``(None, exception
    name)`` when it could not be reached in the client's timeout (no redirect is followed; the answer's body is
    never read)."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret), DELIVERY_HEADER: delivery_id}
    error = "ConnectError"
    for address in target.addresses:
        url, host, extensions = target.pinned(address)
        try:
            with client.stream("POST", url, content=body, headers={**headers, **host}, extensions=extensions,
                               follow_redirects=False) as response:  # fmt: skip
                return response.status_code, None
        except httpx.ConnectError as exc:  # the next address, if any (as a connection to the host name would)
            error = type(exc).__name__
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
    return None, error
