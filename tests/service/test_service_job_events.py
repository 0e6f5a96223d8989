"""Job progress as Server-Sent Events (``GET /v1/jobs/{id}/events``, ``GET /v1/jobs/events?ids=``), through
TestClient streaming (SQLite and PostgreSQL) and a real ``vidstruct serve`` (SQLite): events in the order the job
changed, each equal to ``GET /v1/jobs/{id}`` at that moment; ``end`` after success, failure and cancel; an
unchanged job sends only heartbeats; ``created`` events for newer jobs; 401 / 404 / 422; a revoked key's stream
closes at its next heartbeat; the per-key limit on open streams (429); a stream's longest life; and a SIGTERM
with a stream open: the server stops (uvicorn waits for open responses, so a stream that never ended would hold
it forever) and the stream ends cleanly.

The job's state is changed with the queue's own functions (claim, renew with progress, complete, fail), one
change at a time, each waited for in the stream: nothing depends on how fast the server polls. Streams poll
every 0.02 s and beat every 0.1 s here (settings), so waits are short; every read is bounded (a heartbeat always
comes, and a stream's life is bounded).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pgcluster import free_port
from servicekit import Api, cut_video, make_api, wait_for
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.api.job_events import RETRY_MS, stop_streams
from vidstruct.service.auth import create_key, revoke_key
from vidstruct.service.db.models import Job
from vidstruct.service.db.session import make_engine, session_factory, transaction
from vidstruct.service.jobs.intake import new_video, probe_or_refuse
from vidstruct.service.jobs.queue import claim_job, complete_held, fail_job, renew_lease, submit_job
from vidstruct.service.settings import ServiceSettings

WORKER = "test-worker"


@dataclass
class Message:
    """One message of an event stream: an event (``event``, ``data``), a comment, or a ``retry`` field."""

    event: str | None = None
    data: str | None = None
    comment: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        assert self.data is not None, self
        return json.loads(self.data)


def messages(response: httpx.Response) -> Iterator[Message]:
    """Parse ``text/event-stream`` as it arrives (one message per blank-line-ended block)."""
    current = Message()
    for line in response.iter_lines():
        if line == "":
            if current != Message():
                yield current
            current = Message()
        elif line.startswith(":"):
            current.comment = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                current.event = value
            elif name == "data":
                current.data = value if current.data is None else f"{current.data}\n{value}"
            elif name == "retry":
                current.retry = int(value)
    if current != Message():
        yield current


def next_event(stream: Iterator[Message]) -> Message:
    """The next event, skipping heartbeats (a stream that ends first fails the test)."""
    for message in stream:
        if message.event is not None:
            return message
        assert message.comment == "heartbeat", message
    raise AssertionError("the stream ended before the next event")


@pytest.fixture
def fast(settings: ServiceSettings) -> ServiceSettings:
    return replace(settings, stream_poll_s=0.02, stream_heartbeat_s=0.1, streams_per_key=2)


@pytest.fixture
def events_api(fast: ServiceSettings) -> Iterator[Api]:
    yield from make_api(fast)


def _factory(api: Api) -> sessionmaker[Session]:
    return api.client.app.state.service.factory  # type: ignore[attr-defined]


def _submit(api: Api, video_bytes: bytes, tag: str) -> str:
    files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
    r = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data={"job_tag": tag})
    assert r.status_code in (200, 202), r.text
    return r.json()["job_id"]


def _job(api: Api, job_id: str) -> dict[str, Any]:
    r = api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("read"))
    assert r.status_code == 200, r.text
    return r.json()


def _held_job(api: Api, job_id: str) -> Job:
    job = claim_job(_factory(api), WORKER, lease_s=60.0, max_attempts=3)
    assert job is not None and job.id == job_id
    return job


def test_events_follow_the_job_in_order_and_end_after_success(events_api: Api, video_bytes: bytes) -> None:
    api, factory = events_api, _factory(events_api)
    job_id = _submit(api, video_bytes, "ok")
    with api.client.stream("GET", f"/v1/jobs/{job_id}/events", headers=api.auth("read")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = messages(response)
        assert next(stream).retry == RETRY_MS
        first = next_event(stream)
        assert first.event == "progress" and first.json() == _job(api, job_id)
        assert first.json()["status"] == "QUEUED"
        job = _held_job(api, job_id)
        claimed = next_event(stream)
        assert claimed.json() == _job(api, job_id)
        assert (claimed.json()["status"], claimed.json()["attempts"], claimed.json()["progress"]) == (
            "IN_PROGRESS", 1, {}
        )  # fmt: skip
        steps = [{"shots": 50.0}, {"shots": 100.0, "segments": 25.0}]
        for progress in steps:
            assert renew_lease(factory, job_id, WORKER, 60.0, progress)
            event = next_event(stream)
            assert event.event == "progress" and event.json() == _job(api, job_id)
            assert event.json()["progress"] == progress
        final_progress = {"shots": 100.0, "segments": 100.0}
        assert complete_held(factory, job, WORKER, lambda _session: None, final_progress)
        done = next_event(stream)
        assert (done.event, done.json()["status"], done.json()["progress"]) == ("progress", "SUCCEEDED", final_progress)
        end = next_event(stream)
        assert end.event == "end" and end.json() == _job(api, job_id) == done.json()
        assert list(stream) == []  # closed after `end`
    assert api.client.app.state.job_streams.open_streams() == 0  # type: ignore[attr-defined]


def test_an_unchanged_job_sends_only_heartbeats_and_a_failure_ends_the_stream(
    events_api: Api, video_bytes: bytes
) -> None:
    api, factory = events_api, _factory(events_api)
    job_id = _submit(api, video_bytes, "fails")
    with api.client.stream("GET", f"/v1/jobs/{job_id}/events", headers=api.auth("read")) as response:
        stream = messages(response)
        assert next(stream).retry == RETRY_MS
        assert next_event(stream).json()["status"] == "QUEUED"
        _held_job(api, job_id)
        assert next_event(stream).json()["progress"] == {}
        assert renew_lease(factory, job_id, WORKER, 60.0, {"shots": 40.0})
        assert next_event(stream).json()["progress"] == {"shots": 40.0}
        # the lease moves on, the job's JSON does not: heartbeats only (the second one was sent after a read
        # that saw the renewal: a stream's send waits until the client has read the previous message)
        assert renew_lease(factory, job_id, WORKER, 90.0, {"shots": 40.0})
        quiet = [next(stream) for _ in range(3)]
        assert [(m.event, m.comment) for m in quiet] == [(None, "heartbeat")] * 3
        assert fail_job(factory, job_id, WORKER, "decode failed: truncated file")
        failed = next_event(stream)
        assert (failed.event, failed.json()["status"]) == ("progress", "FAILED")
        assert failed.json()["error"] == "decode failed: truncated file"
        end = next_event(stream)
        assert end.event == "end" and end.json() == _job(api, job_id)
        assert list(stream) == []


def test_one_stream_for_several_jobs(events_api: Api, video_bytes: bytes) -> None:
    api, factory = events_api, _factory(events_api)
    first, second = _submit(api, video_bytes, "a"), _submit(api, video_bytes, "b")
    url = f"/v1/jobs/events?ids={first},{second},{first}"  # a repeated id counts once
    with api.client.stream("GET", url, headers=api.auth("read")) as response:
        assert response.status_code == 200
        stream = messages(response)
        assert next(stream).retry == RETRY_MS
        opening = [next_event(stream), next_event(stream)]
        assert [e.json() for e in opening] == [_job(api, first), _job(api, second)]
        assert api.client.delete(f"/v1/jobs/{first}", headers=api.auth("write")).status_code == 200
        canceled = next_event(stream)
        assert (canceled.json()["job_id"], canceled.json()["status"]) == (first, "CANCELED")
        _held_job(api, second)  # the first is canceled: the claim takes the second
        running = next_event(stream)
        assert (running.json()["job_id"], running.json()["status"]) == (second, "IN_PROGRESS")
        assert fail_job(factory, second, WORKER, "no frames")
        failed = next_event(stream)
        assert (failed.json()["job_id"], failed.json()["status"], failed.json()["error"]) == (
            second, "FAILED", "no frames"
        )  # fmt: skip
        end = next_event(stream)
        assert (end.event, end.json()) == ("end", {"job_ids": [first, second]})
        assert list(stream) == []
    # jobs that have ended: their state and `end` at once
    with api.client.stream("GET", f"/v1/jobs/events?ids={second}", headers=api.auth("read")) as response:
        events = [m for m in messages(response) if m.event is not None]
    assert [(e.event, e.json().get("status")) for e in events] == [("progress", "FAILED"), ("end", None)]


def test_the_stream_tells_of_jobs_created_after_a_time(events_api: Api, video_bytes: bytes) -> None:
    api = events_api
    followed = _submit(api, video_bytes, "followed")
    since = _job(api, followed)["created_at"]
    url = f"/v1/jobs/events?ids={followed}&created_after={quote(since)}"
    with api.client.stream("GET", url, headers=api.auth("read")) as response:
        assert response.status_code == 200
        stream = messages(response)
        assert next(stream).retry == RETRY_MS
        assert next_event(stream).json() == _job(api, followed)  # itself is not "created" (not after `since`)
        newer = _submit(api, video_bytes, "newer")
        created = next_event(stream)
        assert (created.event, created.json()) == ("created", _job(api, newer))
        assert api.client.delete(f"/v1/jobs/{followed}", headers=api.auth("write")).status_code == 200
        events = [m.event for m in stream if m.event is not None]
        assert events == ["progress", "end"]  # the new job is announced once, not followed
    bad = api.client.get(f"/v1/jobs/events?ids={followed}&created_after=yesterday", headers=api.auth("read"))
    assert bad.status_code == 422 and "created_after" in bad.json()["detail"]
    naive = quote(since.replace("+00:00", ""))
    assert (
        api.client.get(f"/v1/jobs/events?ids={followed}&created_after={naive}", headers=api.auth("read")).status_code
        == 422
    )


def test_auth_unknown_jobs_and_bad_id_lists(events_api: Api, video_bytes: bytes) -> None:
    api = events_api
    job_id = _submit(api, video_bytes, "auth")
    for path in (f"/v1/jobs/{job_id}/events", f"/v1/jobs/events?ids={job_id}"):
        r = api.client.get(path)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = api.client.get(path, headers={"Authorization": "Bearer vs_not-a-key"})
        assert r.status_code == 401
    r = api.client.get("/v1/jobs/no-such-job/events", headers=api.auth("read"))
    assert r.status_code == 404 and "no-such-job" in r.json()["detail"]
    r = api.client.get(f"/v1/jobs/events?ids={job_id},no-such-job", headers=api.auth("read"))
    assert r.status_code == 404 and "no-such-job" in r.json()["detail"]
    assert api.client.get("/v1/jobs/events?ids=,", headers=api.auth("read")).status_code == 422
    too_many = ",".join(f"job-{i}" for i in range(101))
    r = api.client.get(f"/v1/jobs/events?ids={too_many}", headers=api.auth("read"))
    assert r.status_code == 422 and "at most 100" in r.json()["detail"]
    # the pages' session cookie (no header) opens a stream too
    assert api.client.post("/ui/session", json={"key": api.keys["read"]}).status_code == 200
    with api.client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        stream = messages(response)
        assert next(stream).retry == RETRY_MS
        assert next_event(stream).json()["job_id"] == job_id
    api.client.cookies.clear()


def test_a_revoked_keys_stream_closes_at_its_next_heartbeat(events_api: Api, video_bytes: bytes) -> None:
    api = events_api
    job_id = _submit(api, video_bytes, "revoked")
    with api.session() as session:
        key, row = create_key(session, "read")
        session.commit()
        key_id = row.id
    headers = {"Authorization": f"Bearer {key}"}
    with api.client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        stream = messages(response)
        assert next(stream).retry == RETRY_MS
        assert next_event(stream).json()["status"] == "QUEUED"
        assert next(stream).comment == "heartbeat"  # checked: still valid
        with api.session() as session:
            assert revoke_key(session, key_id)
            session.commit()
        rest = []
        for message in stream:  # a stream left open would beat on until its 10 min are up
            rest.append(message)
            assert len(rest) <= 3 and message.comment == "heartbeat", rest
    assert api.client.get(f"/v1/jobs/{job_id}/events", headers=headers).status_code == 401
    assert _job(api, job_id)["status"] == "QUEUED"  # the job goes on: only the stream ended


def test_open_streams_are_limited_per_key(events_api: Api, video_bytes: bytes) -> None:
    api = events_api
    hub = api.client.app.state.job_streams  # type: ignore[attr-defined]
    job_id = _submit(api, video_bytes, "limit")
    path = f"/v1/jobs/{job_id}/events"
    read_id = _key_id(api, "read")
    with api.client.stream("GET", path, headers=api.auth("read")) as one:
        assert one.status_code == 200
        with api.client.stream("GET", path, headers=api.auth("read")) as two:
            assert two.status_code == 200
            assert hub.open_streams(read_id) == 2
            third = api.client.get(path, headers=api.auth("read"))
            assert third.status_code == 429 and "at most 2 open event streams per key" in third.json()["detail"]
            assert int(third.headers["retry-after"]) > 0
            with api.client.stream("GET", path, headers=api.auth("admin")) as other_key:
                assert other_key.status_code == 200  # another key has its own streams
        assert hub.open_streams(read_id) == 1  # a closed stream gives its place back
        with api.client.stream("GET", path, headers=api.auth("read")) as again:
            assert again.status_code == 200
    assert hub.open_streams() == 0


def _key_id(api: Api, scope: str) -> int:
    from vidstruct.service.auth import authenticate

    with api.session() as session:
        return authenticate(session, f"Bearer {api.keys[scope]}", "read").id


def test_a_stream_ends_after_its_longest_life_and_when_the_server_stops(
    fast: ServiceSettings, video_bytes: bytes
) -> None:
    for api in make_api(replace(fast, stream_max_s=0.3)):
        job_id = _submit(api, video_bytes, "life")
        with api.client.stream("GET", f"/v1/jobs/{job_id}/events", headers=api.auth("read")) as response:
            got = list(messages(response))  # ends by itself: no `end` (the job is still queued)
        assert got[0].retry == RETRY_MS and [m.event for m in got[1:] if m.event] == ["progress"]
        assert all(m.comment == "heartbeat" for m in got[2:])
        assert _job(api, job_id)["status"] == "QUEUED"
    for api in make_api(fast):
        job_id = _submit(api, video_bytes, "stop")
        with api.client.stream("GET", f"/v1/jobs/{job_id}/events", headers=api.auth("read")) as response:
            stream = messages(response)
            assert next(stream).retry == RETRY_MS
            assert next_event(stream).event == "progress"
            stop_streams(api.client.app)  # type: ignore[arg-type]
            rest = list(stream)  # ends at the stream's next tick, without `end`
        assert all(m.comment == "heartbeat" for m in rest)
        assert api.client.app.state.job_streams.open_streams() == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_stops_serve_with_a_stream_open(settings: ServiceSettings, tmp_path: Path) -> None:
    """uvicorn's graceful stop waits for every open response: the stream must end for the server to exit."""
    factory = session_factory(make_engine(settings.database_url))
    video = cut_video(tmp_path / "clip.mp4")
    with transaction(factory) as session:
        key, _ = create_key(session, "read")
        row = new_video("b" * 64, str(video), stored=False, size=1, info=probe_or_refuse(video), filename=None)
        session.add(row)
        session.flush()
        video_id = row.id
    with factory() as session:
        job, _ = submit_job(session, video_id=video_id, features=["segments"], profile="tiny", min_confidence=0.0)
        job_id = job.id
    factory.kw["bind"].dispose()
    port = free_port()
    argv = [sys.executable, "-m", "vidstruct", "serve", "--quiet", "--data-dir", str(settings.data_dir),
            "--profile-dir", str(settings.profile_dirs[0]), "--default-profile", "tiny", "--workers", "0",
            "--port", str(port)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VIDSTRUCT_DB": settings.database_url}
    proc = subprocess.Popen(argv, env=env)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("the server answers", up, proc, deadline_s=180.0)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.stream("GET", f"{base}/v1/jobs/{job_id}/events", headers=headers, timeout=60) as response:
            assert response.status_code == 200
            stream = messages(response)
            assert next(stream).retry == RETRY_MS
            assert next_event(stream).json()["status"] == "QUEUED"
            proc.send_signal(signal.SIGTERM)
            rest = []  # the server closes the stream (a read timeout or a broken stream fails the test)
            for message in stream:  # a stream left open would beat every 15 s until its 10 min are up
                rest.append(message)
                assert len(rest) <= 2 and message.comment == "heartbeat", rest
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0
