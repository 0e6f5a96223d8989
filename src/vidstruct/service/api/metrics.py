"""Prometheus metrics at ``GET /metrics`` (``prometheus-client``, text format; no key needed, counts only).

Per API process: ``vidstruct_http_request_duration_seconds`` (histogram by method, route template and status).
Read from the database at each scrape (so every API process shows the same, whatever worker did the work):
``vidstruct_jobs`` (by status and kind: ``analysis`` or ``reel``), ``vidstruct_queue_depth`` (jobs waiting),
``vidstruct_workers_alive``, ``vidstruct_job_duration_seconds`` (histogram of the last 1000 finished jobs, start to
finish),
``vidstruct_webhook_failures_total`` (tries that got no 2xx) and ``vidstruct_webhook_deliveries`` (webhooks of the
outbox by status: ``pending``, ``delivered``, ``failed`` = given up after every try).
Moderation: ``vidstruct_moderation_flags`` (flags by status ``open | escalated | reviewed | superseded``, action
``flag | block`` and severity ``low | medium | high``), ``vidstruct_moderation_blocked_videos`` (videos with a
blocking flag, see :func:`vidstruct.service.moderation.checker.is_blocking`) and
``vidstruct_moderation_reviews_total`` (reviews in the audit log by decision ``confirm | dismiss | escalate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidstruct.service.db.models import JOB_KINDS, JOB_STATUSES, AuditEntry, Job, ModerationFlag, WebhookDelivery
from vidstruct.service.jobs.outbox import outbox_counts
from vidstruct.service.jobs.queue import job_counts, live_workers
from vidstruct.service.moderation.checker import FLAG_STATUSES, blocking_condition
from vidstruct.service.moderation.policy import ACTIONS, SEVERITIES
from vidstruct.service.moderation.reviews import DECISIONS, REVIEW_ACTION

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
            flags, blocked, reviews = _moderation_counts(session)
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
        by_flag = GaugeMetricFamily(
            "vidstruct_moderation_flags", "moderation flags by status, action and severity",
            labels=["status", "action", "severity"],
        )  # fmt: skip
        for status in sorted({*FLAG_STATUSES, *(k[0] for k in flags)}, key=_known_first(FLAG_STATUSES)):
            for action in sorted({*ACTIONS, *(k[1] for k in flags)}, key=_known_first(ACTIONS)):
                for severity in sorted({*SEVERITIES, *(k[2] for k in flags)}, key=_known_first(SEVERITIES)):
                    by_flag.add_metric([status, action, severity], flags.get((status, action, severity), 0))
        yield by_flag
        yield GaugeMetricFamily(
            "vidstruct_moderation_blocked_videos", "videos blocked by a moderation flag", value=blocked
        )
        by_decision = CounterMetricFamily(
            "vidstruct_moderation_reviews", "reviews of moderation flags (audit log) by decision", labels=["decision"]
        )
        for decision in sorted({*DECISIONS, *reviews}, key=_known_first(DECISIONS)):
            by_decision.add_metric([decision], reviews.get(decision, 0))
        yield by_decision


def _moderation_counts(session: Session) -> tuple[dict[tuple[str, str, str], int], int, dict[str, int]]:
    """Flags by (status, action, severity), the number of blocked videos, and reviews by decision: three aggregate
    queries (the reviews' one scans the audit log's review entries)."""
    flags = {
        (status, action, severity): int(n)
        for status, action, severity, n in session.execute(
            select(ModerationFlag.status, ModerationFlag.action, ModerationFlag.severity, func.count()).group_by(
                ModerationFlag.status, ModerationFlag.action, ModerationFlag.severity
            )
        ).all()
    }
    blocked = session.scalar(select(func.count(func.distinct(ModerationFlag.video_id))).where(blocking_condition()))
    entries = (
        select(AuditEntry.detail["decision"].as_string().label("decision"))
        .where(AuditEntry.action == REVIEW_ACTION)
        .subquery()
    )  # a subquery: PostgreSQL would not match the JSON path's bound parameter in SELECT and GROUP BY
    by_decision = select(entries.c.decision, func.count()).group_by(entries.c.decision)
    reviews = {str(decision): int(n) for decision, n in session.execute(by_decision).all()}
    return flags, int(blocked or 0), reviews


def _known_first(known: tuple[str, ...]) -> Callable[[str], tuple[int, str]]:
    """Sort key: the ``known`` values in their order, then any other value (an old row) alphabetically."""
    return lambda value: (known.index(value), "") if value in known else (len(known), value)


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
