"""Webhooks: a receiver on 127.0.0.1 that fails twice gets the third try; the body is the job's outcome and the
signature header is the HMAC-SHA256 of the body with the service's secret, the delivery id header the same on every
try; every try is recorded with its delivery id. (The outbox's fault tests: test_service_webhook_outbox.py.)"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from servicekit import make_api
from sqlalchemy import select

from vidstruct.service.db.models import WebhookDelivery, WebhookOutbox
from vidstruct.service.settings import ServiceSettings

SECRET = "test-secret"


class Receiver:
    """An HTTP server on a loopback port answering 500 to the first ``failures`` POSTs, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.calls) <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)
    yield r
    r.close()


def test_a_webhook_that_fails_twice_is_delivered_on_the_third_try(
    settings: ServiceSettings, receiver: Receiver, video_bytes: bytes
) -> None:
    fast = dataclasses.replace(settings, webhook_secret=SECRET, webhook_backoff_s=0.05, webhook_attempts=5)
    for api in make_api(fast):
        files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
        data = {"webhook_url": receiver.url, "job_tag": "hooked"}
        job_id = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data=data).json()["job_id"]
        assert api.worker().run(exit_when_idle=True) == 1  # returns once the webhook's tries are over
        job = api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("read")).json()
        assert len(receiver.calls) == 3
        headers, body = receiver.calls[-1]
        assert json.loads(body) == {
            "job_id": job_id, "status": "SUCCEEDED", "job_tag": "hooked", "video_id": job["video_id"],
            "finished_at": job["finished_at"],
        }  # fmt: skip
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Vidstruct-Signature"] == expected
        assert all(h["X-Vidstruct-Signature"] == expected for h, _ in receiver.calls)  # the same body each try
        with api.session() as session:
            rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.attempt)).all()
            outbox = session.scalars(select(WebhookOutbox)).one()
        assert [(r.attempt, r.status_code, r.delivered) for r in rows] == [
            (1, 500, False),
            (2, 500, False),
            (3, 204, True),
        ]
        assert {h["X-Vidstruct-Delivery"] for h, _ in receiver.calls} == {r.delivery_id for r in rows} == {outbox.id}
        assert (outbox.job_id, outbox.status, outbox.body.encode()) == (job_id, "delivered", body)


def test_an_unreachable_webhook_is_tried_the_configured_number_of_times(
    settings: ServiceSettings, video_bytes: bytes
) -> None:
    fast = dataclasses.replace(settings, webhook_secret=SECRET, webhook_backoff_s=0.01, webhook_attempts=3)
    dead = Receiver(failures=0)
    url = dead.url
    dead.close()  # nothing listens there any more
    for api in make_api(fast):
        files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
        api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data={"webhook_url": url})
        assert api.worker().run(exit_when_idle=True) == 1
        with api.session() as session:
            rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.attempt)).all()
        assert [(r.attempt, r.status_code, r.delivered, r.error) for r in rows] == [
            (n, None, False, "ConnectError") for n in (1, 2, 3)
        ]
