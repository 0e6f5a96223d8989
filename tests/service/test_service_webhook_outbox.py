"""Durable webhooks (the outbox), on SQLite and PostgreSQL: a job's final state and its pending webhook are one
transaction; a receiver failing twice gets the third try with the same delivery id and signature; a worker
SIGKILLed before (or right after) posting leaves the webhook to another worker, and a receiver deduping by delivery
id sees it once; an unreachable URL fails after the configured tries with the reason, the job untouched; two
workers never post one row at once (PostgreSQL); a stopping worker finishes its try in hand, claims nothing more
and releases its leases.

Receivers listen on 127.0.0.1; every wait is bounded and asserts on states, not durations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from servicekit import Api
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Job, WebhookDelivery, WebhookOutbox
from vidstruct.service.db.session import make_engine, session_factory, transaction
from vidstruct.service.jobs import queue
from vidstruct.service.jobs.deliverer import WebhookDeliverer
from vidstruct.service.jobs.outbox import MAX_WAIT_S, claim_deliveries, release_deliveries, retry_wait_s
from vidstruct.service.jobs.queue import (
    cancel_job,
    claim_job,
    complete_held,
    expire_exhausted,
    fail_job,
    submit_job,
)
from vidstruct.service.jobs.worker import JobWorker
from vidstruct.service.settings import ServiceSettings

SECRET = "outbox-secret"
DEADLINE_S = 180.0


class Receiver:
    """A loopback HTTP server: answers ``statuses`` in turn (204 once they are used up), after ``delay_s`` (and
    once ``gate`` is set, when given);
    records every call and dedupes by ``X-Vidstruct-Delivery`` (``observed``: the first body of each id), and
    notes any id posted again while an earlier post of it was still being answered (``overlaps``)."""

    def __init__(
        self, statuses: tuple[int, ...] = (), delay_s: float = 0.0, gate: threading.Event | None = None
    ) -> None:
        self.statuses, self.delay_s, self.gate = list(statuses), delay_s, gate
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.observed: dict[str, bytes] = {}
        self.in_flight: Counter[str] = Counter()
        self.overlaps: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers["X-Vidstruct-Delivery"]
                with receiver.lock:
                    receiver.calls.append((dict(self.headers), body))
                    receiver.in_flight[delivery] += 1
                    if receiver.in_flight[delivery] > 1:
                        receiver.overlaps.append(delivery)
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                time.sleep(receiver.delay_s)
                if receiver.gate is not None:
                    receiver.gate.wait(DEADLINE_S)
                with receiver.lock:
                    receiver.in_flight[delivery] -= 1
                    if 200 <= status < 300:
                        receiver.observed.setdefault(delivery, body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fast(settings: ServiceSettings) -> ServiceSettings:
    # a generous post timeout: on a loaded machine a 5 s timeout made a try fail and the row's attempts 2
    return dataclasses.replace(settings, webhook_secret=SECRET, webhook_backoff_s=0.05, webhook_timeout_s=30.0)


@pytest.fixture
def factory(fast: ServiceSettings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(fast.database_url)
    yield session_factory(engine)
    engine.dispose()


def _submitted(factory: sessionmaker[Session], url: str | None, tag: str = "t") -> str:
    with factory() as session:
        job, _ = submit_job(session, features=["segments"], profile="tiny", min_confidence=0.0, webhook_url=url,
                            job_tag=tag)  # fmt: skip
    return job.id


def _claimed(factory: sessionmaker[Session], url: str | None, tag: str = "t", owner: str = "w-test") -> Job:
    job_id = _submitted(factory, url, tag)
    job = claim_job(factory, owner, lease_s=60, max_attempts=3)
    assert job is not None and job.id == job_id
    return job


def _succeeded(factory: sessionmaker[Session], url: str | None, tag: str = "t") -> str:
    job = _claimed(factory, url, tag)
    assert complete_held(factory, job, "w-test", lambda session: None, {"render": 100.0})
    return job.id


def _outbox(factory: sessionmaker[Session]) -> list[WebhookOutbox]:
    with factory() as session:
        return list(session.scalars(select(WebhookOutbox).order_by(WebhookOutbox.created_at)).all())


def _tries(factory: sessionmaker[Session]) -> list[WebhookDelivery]:
    with factory() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all())


def _job(factory: sessionmaker[Session], job_id: str) -> Job:
    with factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _expected_body(job: Job) -> bytes:
    """The documented body, built here from the job's row: keys sorted, finished_at in ISO 8601 UTC."""
    assert job.finished_at is not None
    fields = {"job_id": job.id, "status": job.status, "job_tag": job.job_tag, "video_id": job.video_id,
              "finished_at": job.finished_at.astimezone(timezone.utc).isoformat()}  # fmt: skip
    return json.dumps(dict(sorted(fields.items()))).encode()


def _signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


class _Boom(Exception):
    pass


def test_a_final_state_and_its_pending_webhook_are_one_transaction(
    fast: ServiceSettings, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "http://127.0.0.1:9/hook"
    # the transaction that ends the job fails (the results could not be stored): neither the state nor the webhook
    job = _claimed(factory, url, "a")

    def failing_store(session: Session) -> None:
        raise _Boom

    with pytest.raises(_Boom):
        complete_held(factory, job, "w-test", failing_store, {})
    assert _job(factory, job.id).status == "IN_PROGRESS" and _outbox(factory) == []
    # the webhook's own insert fails: the job's final state is rolled back with it
    real = queue.enqueue_webhook

    def failing_enqueue(session: Session, job_id: str) -> str | None:
        real(session, job_id)
        raise _Boom

    monkeypatch.setattr(queue, "enqueue_webhook", failing_enqueue)
    with pytest.raises(_Boom):
        complete_held(factory, job, "w-test", lambda session: None, {})
    with pytest.raises(_Boom):
        fail_job(factory, job.id, "w-test", "broken")
    assert _job(factory, job.id).status == "IN_PROGRESS" and _outbox(factory) == []
    monkeypatch.setattr(queue, "enqueue_webhook", real)
    # committed: the job and exactly one pending webhook whose body is the job's outcome
    assert complete_held(factory, job, "w-test", lambda session: None, {})
    done = _job(factory, job.id)
    [row] = _outbox(factory)
    assert (done.status, row.job_id, row.url, row.status, row.attempts, row.lease_owner) == (
        "SUCCEEDED", job.id, url, "pending", 0, None
    )  # fmt: skip
    assert row.body.encode() == _expected_body(done) and len(row.id) == 32
    assert not complete_held(factory, job, "w-test", lambda session: None, {})  # no longer held: nothing more
    # FAILED (by the worker, or a lease expired after the last attempt) owes one; CANCELED and no URL owe none
    failed = _claimed(factory, url, "b")
    assert fail_job(factory, failed.id, "w-test", "the job's video was deleted")
    stalled = _claimed(factory, url, "c", owner="dead")
    with transaction(factory) as session:
        session.execute(
            update(Job).where(Job.id == stalled.id).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=timezone.utc))
        )
    with transaction(factory) as session:
        assert expire_exhausted(session, max_attempts=1) == 1
    canceled = _submitted(factory, url, "d")
    with factory() as session:
        cancel_job(session, canceled)
    _succeeded(factory, None, "e")
    rows = {r.job_id: r for r in _outbox(factory)}
    assert sorted(rows) == sorted([job.id, failed.id, stalled.id])
    for job_id in (failed.id, stalled.id):
        assert json.loads(rows[job_id].body)["status"] == "FAILED" == _job(factory, job_id).status
        assert rows[job_id].body.encode() == _expected_body(_job(factory, job_id))


def test_a_receiver_failing_twice_gets_the_third_try_with_one_delivery_id(
    fast: ServiceSettings, factory: sessionmaker[Session]
) -> None:
    receiver = Receiver(statuses=(500, 503))
    try:
        job_id = _succeeded(factory, receiver.url, "hooked")
        assert JobWorker(fast, factory=factory).run(exit_when_idle=True) == 0  # no job, but the webhook's tries
    finally:
        receiver.close()
    [row] = _outbox(factory)
    assert (row.status, row.attempts, row.last_error, row.lease_owner) == ("delivered", 3, None, None)
    body = _expected_body(_job(factory, job_id))
    assert len(receiver.calls) == 3
    for headers, sent in receiver.calls:  # the same bytes, signature and delivery id on every try
        assert sent == body
        assert headers["X-Vidstruct-Signature"] == _signature(body)
        assert headers["X-Vidstruct-Delivery"] == row.id
    assert [(t.attempt, t.status_code, t.delivered, t.delivery_id, t.job_id) for t in _tries(factory)] == [
        (1, 500, False, row.id, job_id),
        (2, 503, False, row.id, job_id),
        (3, 204, True, row.id, job_id),
    ]


def test_an_unreachable_webhook_fails_after_its_tries_and_the_job_stays_succeeded(api: Api) -> None:
    settings = dataclasses.replace(api.settings, webhook_secret=SECRET, webhook_backoff_s=0.01, webhook_attempts=3)
    dead = Receiver()
    url = dead.url
    dead.close()  # nothing listens there any more
    factory = api.client.app.state.service.factory
    job_id = _succeeded(factory, url)
    assert JobWorker(settings, factory=factory).run(exit_when_idle=True) == 0
    [row] = _outbox(factory)
    assert (row.status, row.attempts, row.last_error, row.lease_owner) == ("failed", 3, "ConnectError", None)
    assert row.finished_at is not None
    assert [(t.attempt, t.status_code, t.delivered, t.error) for t in _tries(factory)] == [
        (n, None, False, "ConnectError") for n in (1, 2, 3)
    ]
    job = _job(factory, job_id)
    assert (job.status, job.error) == ("SUCCEEDED", None)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(api.client.get("/metrics").text)
        for s in family.samples
    }
    assert samples[("vidstruct_webhook_failures_total", ())] == 3
    by_status = [
        samples[("vidstruct_webhook_deliveries", (("status", s),))] for s in ("pending", "delivered", "failed")
    ]
    assert by_status == [0, 0, 1]


def _worker_process(settings: ServiceSettings, kill: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "vidstruct", "worker", "--quiet", "--data-dir", str(settings.data_dir),
            "--default-profile", "tiny", "--lease-s", "1", "--poll-s", "0.1", "--webhook-timeout-s", "2",
            "--webhook-allow-host", "127.0.0.1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VIDSTRUCT_DB": settings.database_url, "VIDSTRUCT_WEBHOOK_KILL": kill,
           "VIDSTRUCT_WEBHOOK_SECRET": SECRET}  # fmt: skip
    return subprocess.Popen(argv, env=env)


@pytest.mark.parametrize(
    ("db_url", "kill"),
    [("sqlite", "after_post"), ("postgresql", "before_post"), ("postgresql", "after_post")],
    indirect=["db_url"],
)
def test_a_worker_killed_before_recording_its_try_leaves_the_webhook_to_another(
    fast: ServiceSettings, factory: sessionmaker[Session], kill: str
) -> None:
    """A real ``vidstruct worker`` fails a job (its video is gone), which writes the webhook; its delivery thread
    claims it and the process SIGKILLs itself before posting (or after the answer, before recording it). Another
    worker takes the webhook over once the lease expires: the receiver, deduping by delivery id, sees it once."""
    receiver = Receiver()
    try:
        with factory() as session:
            job, _ = submit_job(session, features=["segments"], profile="tiny", min_confidence=0.0,
                                webhook_url=receiver.url, job_tag="killed")  # fmt: skip
        proc = _worker_process(fast, kill)
        assert proc.wait(timeout=DEADLINE_S) == -9  # it killed itself at the hook
        [row] = _outbox(factory)
        assert _job(factory, job.id).status == "FAILED"
        assert (row.status, row.attempts, row.lease_owner is not None) == ("pending", 1, True)
        assert len(receiver.calls) == (1 if kill == "after_post" else 0) and _tries(factory) == []
        assert JobWorker(fast, factory=factory).run(exit_when_idle=True) == 0  # waits for the lease, then delivers
    finally:
        receiver.close()
    [row] = _outbox(factory)
    assert (row.status, row.attempts, row.lease_owner) == ("delivered", 2, None)
    body = _expected_body(_job(factory, job.id))
    assert len(receiver.calls) == (2 if kill == "after_post" else 1)  # at least once
    assert receiver.observed == {row.id: body}  # exactly once for a receiver deduping by delivery id
    assert {h["X-Vidstruct-Signature"] for h, _ in receiver.calls} == {_signature(body)}
    assert [(t.attempt, t.status_code, t.delivered, t.delivery_id) for t in _tries(factory)] == [(2, 204, True, row.id)]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_never_post_the_same_row_at_once(fast: ServiceSettings, factory: sessionmaker[Session]) -> None:
    # a row being claimed by one worker (locked in its transaction) is skipped by the other, never waited for
    a, b = _succeeded(factory, "http://127.0.0.1:9/a"), _succeeded(factory, "http://127.0.0.1:9/b")
    first = {r.job_id: r.id for r in _outbox(factory)}
    other = session_factory(make_engine(fast.database_url))
    with factory() as session, session.begin():
        session.execute(select(WebhookOutbox).where(WebhookOutbox.job_id == a).with_for_update())
        got: list[Any] = []
        claimer = threading.Thread(
            target=lambda: got.extend(claim_deliveries(other, "w2", lease_s=30, max_attempts=5, limit=2))
        )
        claimer.start()
        claimer.join(timeout=60)
        assert not claimer.is_alive() and [d.id for d in got] == [first[b]]
    assert claim_deliveries(factory, "w1", lease_s=30, max_attempts=5, limit=2)[0].id == first[a]
    assert claim_deliveries(other, "w2", lease_s=30, max_attempts=5, limit=2) == []  # both leased
    with transaction(factory) as session:
        session.execute(delete(WebhookOutbox))
    # two workers draining 12 webhooks at once: each posted exactly once, never two posts of one row overlapping
    receiver = Receiver(delay_s=0.05)
    try:
        ids = [_succeeded(factory, receiver.url, f"j{i}") for i in range(12)]
        deliverers = [
            WebhookDeliverer(f, fast, name, threading.Event()) for f, name in ((factory, "w1"), (other, "w2"))
        ]
        threads = [threading.Thread(target=d.drain) for d in deliverers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=DEADLINE_S)
        assert not any(t.is_alive() for t in threads)
    finally:
        receiver.close()
        other.kw["bind"].dispose()
    rows = _outbox(factory)
    assert sorted(r.job_id for r in rows) == sorted(ids) and {(r.status, r.attempts) for r in rows} == {
        ("delivered", 1)
    }
    assert receiver.overlaps == [] and len(receiver.calls) == 12
    assert sorted(receiver.observed) == sorted(r.id for r in rows)
    assert Counter(t.delivery_id for t in _tries(factory)) == {r.id: 1 for r in rows}


def test_a_stopping_worker_releases_its_leased_webhooks(fast: ServiceSettings, factory: sessionmaker[Session]) -> None:
    _succeeded(factory, "http://127.0.0.1:9/a")
    [due] = claim_deliveries(factory, "w1", lease_s=300, max_attempts=5)
    assert due.attempt == 1 and claim_deliveries(factory, "w2", lease_s=300, max_attempts=5) == []
    assert release_deliveries(factory, "w2") == 0 and release_deliveries(factory, "w1") == 1
    [row] = _outbox(factory)
    assert (row.status, row.attempts, row.lease_owner, row.lease_expires_at) == ("pending", 0, None, None)
    # a worker asked to stop claims nothing and leaves the webhook pending for the next one
    worker = JobWorker(fast, factory=factory)
    worker.stop.set()
    assert worker.run() == 0
    [row] = _outbox(factory)
    assert (row.status, row.attempts, row.lease_owner) == ("pending", 0, None) and _tries(factory) == []
    assert [d.id for d in claim_deliveries(factory, "w2", lease_s=300, max_attempts=5)] == [row.id]


def test_retry_waits_double_with_bounded_jitter() -> None:
    rng = random.Random(7)
    for attempt, base in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)):
        waits = [retry_wait_s(attempt, 0.5, rng) for _ in range(200)]
        assert base <= min(waits) and max(waits) < 1.25 * base and len(set(waits)) == 200
    assert MAX_WAIT_S <= retry_wait_s(40, 1.0, rng) < 1.25 * MAX_WAIT_S


def test_a_stop_request_mid_try_finishes_that_try_then_claims_nothing(
    fast: ServiceSettings, factory: sessionmaker[Session]
) -> None:
    """The delivery thread is stopped while a receiver is still answering its try: the try ends and is recorded,
    the other due webhook is left pending and unleased for the next worker."""
    gate = threading.Event()
    receiver = Receiver(gate=gate)
    try:
        first, second = _succeeded(factory, receiver.url, "a"), _succeeded(factory, receiver.url, "b")
        stop = threading.Event()
        deliverer = WebhookDeliverer(factory, fast, "w1", stop)
        thread = deliverer.start()
        end = time.monotonic() + DEADLINE_S
        while not receiver.in_flight and time.monotonic() < end:  # the first post is being answered
            time.sleep(0.01)
        assert len(receiver.calls) == 1
        stop.set()
        gate.set()  # the receiver answers only now
        thread.join(timeout=DEADLINE_S)
        assert not thread.is_alive()
    finally:
        gate.set()
        receiver.close()
    rows = {r.job_id: r for r in _outbox(factory)}
    posted = json.loads(receiver.calls[0][1])["job_id"]
    waiting = second if posted == first else first
    assert (rows[posted].status, rows[posted].attempts, rows[posted].lease_owner) == ("delivered", 1, None)
    assert (rows[waiting].status, rows[waiting].attempts, rows[waiting].lease_owner) == ("pending", 0, None)
    assert len(receiver.calls) == 1 and [t.delivery_id for t in _tries(factory)] == [rows[posted].id]
