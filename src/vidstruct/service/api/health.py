"""``GET /healthz``: is the database reachable and migrated, how many workers are alive, the queue.

No API key needed (load balancers call it); it shows counts only. 200 when the database is reachable and at
the newest schema, 503 otherwise. A worker is alive when its heartbeat is at most three heartbeat intervals old.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from vidstruct.service.api.deps import state
from vidstruct.service.db.migrate import current_revision, head_revision
from vidstruct.service.errors import ServiceError
from vidstruct.service.jobs.queue import job_counts, live_workers

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="database, migrations, workers and queue")
def healthz(request: Request) -> JSONResponse:
    service = state(request)
    body: dict[str, Any] = {"status": "ok", "database": {"reachable": True}}
    try:
        current, head = current_revision(service.engine), head_revision()
        body["migrations"] = {"current": current, "head": head, "ok": current == head}
        with service.factory() as session:
            workers = live_workers(session, 3 * service.settings.heartbeat_s)
            body["workers"] = {"alive": len(workers), "busy": sum(1 for w in workers if w.job_id)}
            body["jobs"] = job_counts(session)
    except ServiceError as exc:
        body.update(status="unavailable", database={"reachable": False, "error": str(exc)})
        return JSONResponse(body, status_code=503)
    if not body["migrations"]["ok"]:
        body["status"] = "unavailable"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
