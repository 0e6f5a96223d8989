"""Prometheus metrics at ``GET /metrics`` (``prometheus-client``, text format; no key needed, counts only).

Per API process: ``vidstruct_http_request_duration_seconds`` (histogram by method, route template and status).
Read from the database at each scrape (so every API process shows the same, whatever worker did the work):
``vidstruct_jobs`` (by status and kind: ``analysis`` or ``reel``), ``vidstruct_queue_depth`` (jobs waiting),
``vidstruct_workers_alive``, ``vidstruct_job_duration_seconds`` (histogram of the last 1000 finished jobs, start to
finish),
``vidstruct_webhook_failures_total`` (tries that got no 2xx) and ``vidstruct_webhook_deliveries`` (webhooks of the
outbox by status: ``pending``, ``delivered``, ``failed`` = given up after every try).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidstruct.service.db.models import JOB_KINDS, JOB_STATUSES, Job, WebhookDelivery
from vidstruct.service.jobs.outbox import outbox_counts
from vidstruct.service.jobs.queue import job_counts, live_workers

JOB_BUCKETS_S = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
router = APIRouter(tags=["operations"])


class DatabaseCollector:
    """The metrics read from the database (see the module doc)."""

    def __init__(self, factory: sessionmaker[Session], heartbeat_s: float) -> None:
        self.factory, self.heartbeat_s = factory, heartbeat_s

    def collect(self) -> Iterator[Metric]:
        with self.factory() as session:
            counts = job_counts(session)
            by_kind = dict(
                ((kind, status), n)
                for kind, status, n in session.execute(
                    select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
                ).all()
            )
            alive = len(live_workers(session, 3 * self.heartbeat_s))
            failures = session.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.delivered.is_(False))
            )
            webhooks = outbox_counts(session)
            spans = session.execute(
                select(Job.started_at, Job.finished_at)
                .where(Job.status == "SUCCEEDED", Job.started_at.is_not(None), Job.finished_at.is_not(None))
                .order_by(Job.finished_at.desc())
                .limit(1000)
            ).all()
        jobs = GaugeMetricFamily("vidstruct_jobs", "jobs by status and kind", labels=["status", "kind"])
        for kind in sorted({*JOB_KINDS, *(k for k, _ in by_kind)}):
            for status in JOB_STATUSES:
                jobs.add_metric([status, kind], int(by_kind.get((kind, status), 0)))
        yield jobs
        yield GaugeMetricFamily("vidstruct_queue_depth", "jobs waiting for a worker", value=counts["QUEUED"])
        yield GaugeMetricFamily("vidstruct_workers_alive", "workers with a recent heartbeat", value=alive)
        yield CounterMetricFamily(
            "vidstruct_webhook_failures", "webhook tries without a 2xx answer", value=failures or 0
        )
        deliveries = GaugeMetricFamily("vidstruct_webhook_deliveries", "webhooks by status", labels=["status"])
        for status, n in webhooks.items():
            deliveries.add_metric([status], n)
        yield deliveries
        durations = [(end - start).total_seconds() for start, end in spans]
        buckets = [(str(b), sum(1 for d in durations if d <= b)) for b in JOB_BUCKETS_S] + [("+Inf", len(durations))]
        yield HistogramMetricFamily(
            "vidstruct_job_duration_seconds",
            "start to finish of the last 1000 succeeded jobs",
            buckets=buckets,
            sum_value=sum(durations),
        )


class RequestTimer:
    """ASGI middleware observing each request's duration by method, route template and status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app, self.histogram = app, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.histogram.labels(scope["method"], template, str(status[0])).observe(time.perf_counter() - start)


def make_registry(factory: sessionmaker[Session], heartbeat_s: float) -> tuple[CollectorRegistry, Histogram]:
    """A registry of its own for one app (tests build several apps in one process)."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(factory, heartbeat_s))  # type: ignore[arg-type]
    histogram = Histogram(
        "vidstruct_http_request_duration_seconds",
        "API request latency",
        ["method", "route", "status"],
        registry=registry,
    )
    return registry, histogram


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
