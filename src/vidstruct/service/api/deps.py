"""What routes share: the service state on the app (settings, sessions) and the API-key check per scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.api.ratelimit import RateLimiter
from vidstruct.service.db.models import ApiKey
from vidstruct.service.settings import ServiceSettings
from vidstruct.service.web_session import key_for_request

_bearer = HTTPBearer(auto_error=False, description="an API key made by 'vidstruct keys create'")


@dataclass
class ServiceState:
    settings: ServiceSettings
    engine: Engine
    factory: sessionmaker[Session]
    limiter: RateLimiter = field(default_factory=RateLimiter)


def state(request: Request) -> ServiceState:
    return request.app.state.service


def db_session(request: Request) -> Iterator[Session]:
    """A session for one request (closed afterwards; routes commit what they change)."""
    with state(request).factory() as session:
        yield session


def require(scope: str) -> Callable[..., ApiKey]:
    """A dependency: the request's API key, which must grant ``scope`` (401 / 403 as problem JSON) and be under
    its rate limit (429)."""

    def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> ApiKey:
        header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
        with state(request).factory() as session:
            key = key_for_request(session, request, header, scope)  # the header, else the pages' session
            session.expunge(key)
        state(request).limiter.check(key.id, key.rate_limit_per_min)
        request.state.api_key_id = key.id
        return key

    return check
