"""API keys: made once, stored only as a hash, checked per request against the scope it needs.

A key is ``vs_`` followed by 43 URL-safe random characters (256 bits); the database keeps its SHA-256 and its
first 8 characters (to tell keys apart in listings), never the key. Scopes: ``read`` (results and job status),
``write`` (read + submit and cancel jobs), ``review`` (read + moderation reviews), ``admin`` (everything,
including deleting videos).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import SCOPES, ApiKey, AuditEntry
from vidstruct.service.errors import AuthError, ScopeError, ServiceError

KEY_PREFIX = "vs_"
#: what each scope may do besides itself
_GRANTS = {"read": {"read"}, "write": {"read", "write"}, "review": {"read", "review"}, "admin": set(SCOPES)}


def hash_key(key: str) -> str:
    """The stored form of ``key`` (SHA-256 hex; keys are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session, scope: str, *, name: str | None = None, rate_limit_per_min: int | None = None
) -> tuple[str, ApiKey]:
    """Make a key with ``scope``, store its hash (and an audit entry) in ``session``; returns the key itself and
    its row."""
    if scope not in SCOPES:
        raise ServiceError(f"scope {scope!r}: expected one of {', '.join(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(key_hash=hash_key(key), prefix=key[:8], name=name, scope=scope, rate_limit_per_min=rate_limit_per_min)
    session.add(row)
    session.flush()
    session.add(AuditEntry(actor="cli", action="key.create", target=f"key:{row.id}", detail={"scope": scope}))
    return key, row


def grants(scope: str, needed: str) -> bool:
    """True when a key with ``scope`` may do what ``needed`` allows."""
    return needed in _GRANTS.get(scope, set())


def authenticate(session: Session, authorization: str | None, needed: str) -> ApiKey:
    """The key row of an ``Authorization: Bearer KEY`` header; 401 (AuthError) without a valid key, 403
    (ScopeError) when its scope does not grant ``needed``."""
    if not authorization:
        raise AuthError("this request needs an API key: send 'Authorization: Bearer KEY'")
    kind, _, key = authorization.partition(" ")
    if kind.lower() != "bearer" or not key.strip():
        raise AuthError("the Authorization header must be 'Bearer KEY'")
    digest = hash_key(key.strip())
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        raise AuthError("the API key is not valid")
    if not grants(row.scope, needed):
        raise ScopeError(f"this request needs a key with scope '{needed}' (this key has '{row.scope}')")
    return row


def revoke_key(session: Session, key_id: int) -> bool:
    """Revoke key ``key_id``; False when there is no such active key."""
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(timezone.utc)
    session.add(AuditEntry(actor="cli", action="key.revoke", target=f"key:{key_id}", detail={}))
    return True
