"""The FastAPI application of the service: routes, problem-JSON errors, body limits, CORS (closed unless
origins are configured). :func:`create_app` refuses an unmigrated database with a one-line error."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from vidstruct import __version__
from vidstruct.service.api import catalog, docs, health, jobs, metrics, moderation, reels, search, similar, videos, web
from vidstruct.service.api.deps import ServiceState
from vidstruct.service.api.job_events import make_hub
from vidstruct.service.api.job_events import router as job_events_router
from vidstruct.service.api.limits import BodyLimit
from vidstruct.service.api.metrics import RequestTimer, make_registry
from vidstruct.service.api.problems import install_problem_handlers
from vidstruct.service.api.video_list import router as video_list_router
from vidstruct.service.db.migrate import require_current
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.moderation.runtime import PolicySource, recheck_if_changed
from vidstruct.service.settings import ServiceSettings

log = logging.getLogger(__name__)


def create_app(settings: ServiceSettings) -> FastAPI:
    """The API over ``settings``' database and data folder; raises NotMigratedError on an unmigrated one."""
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
    except Exception:
        engine.dispose()
        raise
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()  # the server stops: close the database connections

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: api/docs.py serves them from vendored files, not a CDN
        redoc_url=None,
        title="vidstruct",
        version=__version__,
        description="Video structuring service: submit videos, get shots, labelled segments, actors and exports. "
        "Times are seconds, scores are probabilities in [0, 1], boxes are [x1, y1, x2, y2] in [0, 1]; every "
        "result names the models that made it. Send 'Authorization: Bearer KEY' (vidstruct keys create).",
    )
    app.state.service = ServiceState(settings, engine, session_factory(engine))
    app.state.moderation = PolicySource(settings.policy_path)
    try:  # a malformed policy: one line; a changed one: the stored results are checked again
        policy = app.state.moderation.current(strict=True)
        if policy is not None:
            recheck_if_changed(app.state.service.factory, policy)
    except Exception:
        engine.dispose()
        raise
    app.state.metrics, request_latency = make_registry(app.state.service.factory, settings.heartbeat_s)
    install_problem_handlers(app)
    app.state.job_streams = make_hub(settings)  # open event streams, closed on shutdown (serve)
    routers = (jobs.router, videos.router, search.router, similar.router, moderation.router, health.router)
    routers = (*routers, reels.router, catalog.router, docs.router, web.router, video_list_router)
    for router in (job_events_router, *routers, metrics.router):  # first: /v1/jobs/events is not a job id
        app.include_router(router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + 16 * settings.max_form_bytes)
    app.add_middleware(RequestTimer, histogram=request_latency)
    return app
