"""Live job progress as Server-Sent Events (``text/event-stream``), so pages and scripts need not poll.

- ``GET /v1/jobs/{id}/events``: one job;
- ``GET /v1/jobs/events?ids=a,b,c[&created_after=ISO]``: up to :data:`MAX_IDS` jobs in one stream (what the Jobs
  page uses: a browser keeps at most 6 HTTP/1.1 connections per server, so one stream per visible job would starve
  the page's other requests; one stream reads its jobs with one query per tick). With ``created_after`` (a
  ``created_at`` of the API's), the stream also sends ``event: created`` with the JSON of each job created after
  that moment (the newest page shows it without polling the list; an indexed query per tick).

What a stream sends: first ``retry: 3000`` (the reconnection delay in ms), then ``event: progress`` with a job's
JSON (the shape of ``GET /v1/jobs/{id}``) for every job at once and again whenever its JSON changes (status,
progress, error...; the rows are read every ``stream_poll_s`` seconds and nothing is sent when nothing changed),
a comment line ``: heartbeat`` after ``stream_heartbeat_s`` seconds without an event (the stream's key, or its
page session, is checked again then: a revoked key's stream closes, and its reconnection gets 401), and
``event: end`` once every job is SUCCEEDED, FAILED or CANCELED (or gone), then it closes: ``end``'s data is the
job's JSON (one job) or ``{"job_ids": [...]}`` (several). A stream also closes after ``stream_max_s`` seconds
(a client reconnects: ``EventSource`` does so by itself after ``retry``) and when the server shuts down
(:func:`stop_streams`, called by ``vidstruct serve`` when asked to stop, so open streams never hold up a graceful
shutdown).

Limits: each stream is one request through the key's rate limit (:mod:`.ratelimit`); besides, an API process keeps
at most ``streams_per_key`` open streams per API key and ``streams_total`` in all (429 with ``Retry-After``
past them).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from vidstruct.service.api.deps import require, state
from vidstruct.service.api.jobs import job_view
from vidstruct.service.db.models import JOB_STATUSES, ApiKey, Job
from vidstruct.service.errors import AuthError, NotFoundError, RateLimitedError, ScopeError, UnprocessableError
from vidstruct.service.jobs.queue import FINAL
from vidstruct.service.settings import ServiceSettings
from vidstruct.service.web_session import key_for_request

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
#: the most job ids one stream follows (a Jobs page shows 100 jobs)
MAX_IDS = 100
#: how long a client waits before reconnecting to a closed stream (milliseconds, the ``retry:`` field)
RETRY_MS = 3000
#: how long a client refused for too many open streams waits (seconds, ``Retry-After``)
BUSY_RETRY_S = 5
_STREAM_DOC: dict[str, Any] = {
    "responses": {200: {"description": "Server-Sent Events: progress, end", "content": {"text/event-stream": {}}}}
}


class StreamHub:
    """The open event streams of one API process: at most ``per_key`` per API key and ``total`` in all.

    :meth:`stop` (thread- and signal-safe) asks every open stream to close at its next tick; streams opened
    afterwards close at once."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key, self.total = per_key, total
        self._open: dict[int, int] = {}  # key id -> open streams
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def acquire(self, key_id: int) -> None:
        """Count one more open stream of key ``key_id``; RateLimitedError (429) past a limit."""
        with self._lock:
            mine = self._open.get(key_id, 0)
            if mine >= self.per_key:
                raise RateLimitedError(f"at most {self.per_key} open event streams per key", retry_after=BUSY_RETRY_S)
            if sum(self._open.values()) >= self.total:
                raise RateLimitedError("the server has too many open event streams", retry_after=BUSY_RETRY_S)
            self._open[key_id] = mine + 1

    def release(self, key_id: int) -> None:
        with self._lock:
            left = self._open.get(key_id, 0) - 1
            if left > 0:
                self._open[key_id] = left
            else:
                self._open.pop(key_id, None)

    def open_streams(self, key_id: int | None = None) -> int:
        """Streams open now (of key ``key_id``, or in all)."""
        with self._lock:
            return sum(self._open.values()) if key_id is None else self._open.get(key_id, 0)

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


def make_hub(settings: ServiceSettings) -> StreamHub:
    return StreamHub(settings.streams_per_key, settings.streams_total)


def stop_streams(app: FastAPI) -> None:
    """Close every open event stream of ``app`` (the server is shutting down: uvicorn waits for open responses)."""
    hub = getattr(app.state, "job_streams", None)
    if hub is not None:
        hub.stop()


class _EventStream(StreamingResponse):
    """A streaming response that gives its stream slot back however it ends (finished, client gone, cancelled)."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _event(name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n"  # data is one line of JSON (json.dumps escapes newlines)


def _read(factory: sessionmaker[Session], ids: list[str]) -> dict[str, dict[str, Any]]:
    """The API view of each job of ``ids`` that exists (a fresh transaction: what is committed now)."""
    with factory() as session:
        return {job.id: job_view(job) for job in session.scalars(select(Job).where(Job.id.in_(ids)))}


def _created(factory: sessionmaker[Session], after: datetime) -> list[dict[str, Any]]:
    """The API view of the jobs created after ``after``, oldest first (at most :data:`MAX_IDS`; the status list
    lets the (status, created_at) index answer)."""
    query = select(Job).where(Job.status.in_(JOB_STATUSES), Job.created_at > after).order_by(Job.created_at, Job.id)
    with factory() as session:
        return [job_view(job) for job in session.scalars(query.limit(MAX_IDS))]


def _key_check(request: Request) -> Callable[[], bool]:
    """Whether the request's key (its ``Authorization`` header, else its page session) still grants read."""
    header = request.headers.get("authorization")

    def allowed() -> bool:
        with state(request).factory() as session:
            try:
                key_for_request(session, request, header, "read")
            except (AuthError, ScopeError):
                return False
        return True

    return allowed


async def _events(
    factory: sessionmaker[Session],
    settings: ServiceSettings,
    hub: StreamHub,
    ids: list[str],
    single: bool,
    allowed: Callable[[], bool],
    created_after: datetime | None = None,
) -> AsyncIterator[str]:
    """The stream's text (see the module doc); times in seconds from :func:`time.monotonic`."""
    yield f"retry: {RETRY_MS}\n\n"
    sent: dict[str, str] = {}
    announced: set[str] = set(ids)
    started = quiet_since = time.monotonic()
    while True:
        if created_after is not None:
            for view in await run_in_threadpool(_created, factory, created_after):
                created_after = max(created_after, datetime.fromisoformat(view["created_at"]))
                if view["job_id"] not in announced:
                    announced.add(view["job_id"])
                    yield _event("created", json.dumps(view, separators=(",", ":")))
                    quiet_since = time.monotonic()
        views = await run_in_threadpool(_read, factory, ids)
        for job_id in ids:
            view = views.get(job_id)
            text = None if view is None else json.dumps(view, separators=(",", ":"))
            if text is not None and sent.get(job_id) != text:
                sent[job_id] = text
                yield _event("progress", text)
                quiet_since = time.monotonic()
        if all(job_id not in views or views[job_id]["status"] in FINAL for job_id in ids):
            end = sent.get(ids[0], "null") if single else json.dumps({"job_ids": ids}, separators=(",", ":"))
            yield _event("end", end)
            return
        now = time.monotonic()
        if now - quiet_since >= settings.stream_heartbeat_s:
            if not await run_in_threadpool(allowed):
                return  # the key was revoked (or the session ended): the reconnection is answered 401
            yield ": heartbeat\n\n"
            quiet_since = now
        if hub.stopping or now - started >= settings.stream_max_s:
            return  # the client reconnects (after `retry`) to this server or another
        await anyio.sleep(settings.stream_poll_s)


async def _stream(
    request: Request, key: ApiKey, ids: list[str], single: bool, created_after: datetime | None = None
) -> _EventStream:
    service = state(request)
    known = await run_in_threadpool(_read, service.factory, ids)
    missing = [job_id for job_id in ids if job_id not in known]
    if missing:
        raise NotFoundError(f"no job {missing[0][:64]!r}")
    hub: StreamHub = request.app.state.job_streams
    hub.acquire(key.id)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            hub.release(key.id)

    try:
        events = _events(service.factory, service.settings, hub, ids, single, _key_check(request), created_after)
        return _EventStream(events, release)
    except BaseException:
        release()
        raise


@router.get("/events", summary="live progress of several jobs (Server-Sent Events)", openapi_extra=_STREAM_DOC)
async def jobs_events(
    request: Request,
    ids: str = Query(..., description=f"comma list of up to {MAX_IDS} job ids"),
    created_after: str | None = Query(
        None, description="an ISO 8601 time (a job's created_at): also send `event: created` for newer jobs"
    ),
    key: ApiKey = Depends(require("read")),
) -> _EventStream:
    """``event: progress`` with a job's JSON whenever it changes, ``event: end`` once all have ended."""
    wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
    if not wanted:
        raise UnprocessableError("ids: give one or more job ids, comma-separated")
    if len(wanted) > MAX_IDS:
        raise UnprocessableError(f"ids: at most {MAX_IDS} job ids per stream, got {len(wanted)}")
    after = None
    if created_after is not None:
        try:
            after = datetime.fromisoformat(created_after)
        except ValueError:
            after = None
        if after is None or after.tzinfo is None:
            raise UnprocessableError("created_after: expected an ISO 8601 time with its zone, as a job's created_at")
    return await _stream(request, key, wanted, single=False, created_after=after)


@router.get("/{job_id}/events", summary="a job's live progress (Server-Sent Events)", openapi_extra=_STREAM_DOC)
async def job_events(request: Request, job_id: str, key: ApiKey = Depends(require("read"))) -> _EventStream:
    """``event: progress`` with the job's JSON whenever it changes, ``event: end`` when it has ended."""
    return await _stream(request, key, [job_id], single=True)
