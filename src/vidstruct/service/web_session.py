"""Sign-in sessions of the web pages: a signed, expiring cookie naming an API key's id (never the key).

The cookie ``vidstruct_session`` holds ``KEY_ID.EXPIRES.SIGNATURE``: ``EXPIRES`` is a Unix time in whole seconds,
``SIGNATURE`` the hex HMAC-SHA256 of ``session|KEY_ID|EXPIRES|KEY_HASH`` with the service's session secret (so a
token made for one key never passes for another row that reuses its id). The secret is 32 random bytes in
``DATA/session.secret``, made once (readable by its owner only) and shared by every API process, so sessions
survive restarts.

Each request through the cookie looks its key up again: a revoked key's session stops at its next request.
Sign-out (:func:`end_session`) records the SHA-256 of the token in ``web_sessions_ended`` (never the token: a
reader of the table cannot make a session from it), so a copied cookie stops working too; the row is useless once
the token has expired and sign-outs delete such rows (at most :data:`PURGE_BATCH` each). "Sign out everywhere"
(:func:`end_all_sessions`) sets the key's ``sessions_not_before``: every token issued before it is refused. A
token's issue time is its expiry minus :data:`SESSION_TTL_S` (whole seconds), so ``sessions_not_before`` is the
whole second after the latest issue time a token of the key can have had, and a sign-in afterwards issues its token
at ``sessions_not_before`` at the earliest (valid at once, even within the same second). A
cookie-authenticated request that changes something (any method but GET / HEAD / OPTIONS) must send header
``X-CSRF-Token`` equal to the session's CSRF value, an HMAC of the token (stateless: nothing is stored).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from fastapi import Request
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vidstruct.atomic import fsync_dir
from vidstruct.service.auth import authenticate, grants
from vidstruct.service.db.models import ApiKey, AuditEntry, WebSessionEnded, utc_now
from vidstruct.service.errors import AuthError, ScopeError

COOKIE = "vidstruct_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600
SECRET_FILE = "session.secret"
#: expired ``web_sessions_ended`` rows deleted by one sign-out, at most
PURGE_BATCH = 100
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_secrets: dict[Path, bytes] = {}
_lock = threading.Lock()


def session_secret(data_dir: Path) -> bytes:
    """The HMAC secret of ``data_dir``'s sessions, made on first use.

    Several processes may start at once: the secret is written to a private temporary file and hard-linked into
    place, which fails when another process linked its own first, so every process ends up reading the same one.
    """
    path = (Path(data_dir) / SECRET_FILE).resolve()
    with _lock:
        if path in _secrets:
            return _secrets[path]
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, path)
                    fsync_dir(path.parent)
                except FileExistsError:
                    pass  # another process made it first: use theirs
            finally:
                tmp.unlink(missing_ok=True)
        value = path.read_text().strip().encode()
        if len(value) < 32:
            raise AuthError(f"the session secret {path.name} in the data folder is too short; delete it to renew")
        _secrets[path] = value
        return value


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def make_token(secret: bytes, key: ApiKey, *, expires: int | None = None) -> str:
    """A session token for ``key`` expiring at Unix time ``expires`` (default: :data:`SESSION_TTL_S` from now)."""
    expires = int(time.time()) + SESSION_TTL_S if expires is None else int(expires)
    return f"{key.id}.{expires}.{_mac(secret, f'session|{key.id}|{expires}|{key.key_hash}')}"


def csrf_token(secret: bytes, token: str) -> str:
    """The CSRF value of session ``token`` (the pages send it back in :data:`CSRF_HEADER`)."""
    return _mac(secret, f"csrf|{token}")[:32]


def _parse(token: str) -> tuple[int, int, str] | None:
    parts = token.split(".")
    if len(parts) != 3 or len(parts[2]) != 64:
        return None
    if not (parts[0].isdigit() and len(parts[0]) <= 18 and parts[1].isdigit() and len(parts[1]) <= 12):
        return None  # ids and times fit in 64 bits (a longer number would overflow the database's integers)
    return int(parts[0]), int(parts[1]), parts[2]


def key_of_token(session: Session, secret: bytes, token: str) -> ApiKey:
    """The active key row ``token`` names; AuthError (401) when it is malformed, tampered with, expired or its
    key is revoked."""
    parsed = _parse(token)
    if parsed is None:
        raise AuthError("the session is not valid: sign in again")
    key_id, expires, signature = parsed
    row = session.get(ApiKey, key_id)
    expected = _mac(secret, f"session|{key_id}|{expires}|{row.key_hash if row else ''}")
    if row is None or not hmac.compare_digest(expected, signature):
        raise AuthError("the session is not valid: sign in again")
    if expires <= time.time():
        raise AuthError("the session has expired: sign in again")
    if row.revoked_at is not None:
        raise AuthError("the session's API key was revoked")
    if expires - SESSION_TTL_S < _not_before(row):
        raise AuthError("the session was ended by 'sign out everywhere': sign in again")
    if session.get(WebSessionEnded, token_sha256(token)) is not None:
        raise AuthError("the session was signed out: sign in again")
    return row


def token_sha256(token: str) -> str:
    """The hex SHA-256 of a session token: its name in ``web_sessions_ended``."""
    return hashlib.sha256(token.encode()).hexdigest()


def _not_before(row: ApiKey) -> int:
    """The key's ``sessions_not_before`` in Unix seconds (0: never set)."""
    return 0 if row.sessions_not_before is None else int(row.sessions_not_before.timestamp())


def end_session(session: Session, secret: bytes, token: str) -> bool:
    """Sign out: record ``token`` as ended (committed) and delete up to :data:`PURGE_BATCH` rows of expired tokens.
    False (nothing stored) when the token is no valid session anyway: anyone may call sign-out, and only a token
    the service signed may add a row."""
    try:
        row = key_of_token(session, secret, token)
    except AuthError:
        session.rollback()
        return False
    expires = _parse(token)[1]  # type: ignore[index]
    values = {"token_sha256": token_sha256(token), "key_id": row.id, "ended_at": utc_now(),
              "expires_at": datetime.fromtimestamp(expires, timezone.utc)}  # fmt: skip
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):  # two sign-outs of one token at once: the second adds nothing
        module = postgresql if dialect == "postgresql" else sqlite
        session.execute(module.insert(WebSessionEnded).values(**values).on_conflict_do_nothing())
    else:
        session.execute(insert(WebSessionEnded).values(**values))
    stale = select(WebSessionEnded.token_sha256).where(WebSessionEnded.expires_at <= utc_now()).limit(PURGE_BATCH)
    session.execute(
        delete(WebSessionEnded).where(WebSessionEnded.token_sha256.in_(stale)),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return True


def end_all_sessions(session: Session, row: ApiKey) -> int:
    """Sign out everywhere: every session of key ``row`` issued so far is refused from now on (committed, with an
    audit entry); returns the new ``sessions_not_before`` (Unix seconds)."""
    not_before = max(int(time.time()), _not_before(row)) + 1
    row.sessions_not_before = datetime.fromtimestamp(not_before, timezone.utc)
    session.add(AuditEntry(actor=f"key:{row.id}", action="session.end_all", target=f"key:{row.id}", detail={}))
    session.commit()
    return not_before


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie value, its CSRF value and when it expires (Unix seconds)."""

    token: str
    csrf: str
    expires: int


def sign_in(session: Session, data_dir: Path, key: str) -> tuple[ApiKey, SignedIn]:
    """Check ``key`` (scope read or more; AuthError otherwise) and make its session."""
    row = authenticate(session, f"Bearer {key}", "read")
    secret = session_secret(data_dir)
    token = make_token(secret, row, expires=max(int(time.time()), _not_before(row)) + SESSION_TTL_S)
    return row, SignedIn(token, csrf_token(secret, token), _parse(token)[1])  # type: ignore[index]


def current(session: Session, data_dir: Path, request: Request) -> tuple[ApiKey, str]:
    """The key row and CSRF value of ``request``'s session cookie (AuthError without a valid one)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise AuthError("not signed in")
    secret = session_secret(data_dir)
    return key_of_token(session, secret, token), csrf_token(secret, token)


def key_for_request(session: Session, request: Request, authorization: str | None, needed: str) -> ApiKey:
    """The key a request authenticates with: its ``Authorization`` header when it has one, else its session
    cookie (whose unsafe requests must carry the CSRF header); 401 / 403 as :func:`authenticate` does."""
    if authorization or COOKIE not in request.cookies:
        return authenticate(session, authorization, needed)
    row, csrf = current(session, request.app.state.service.settings.data_dir, request)
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise ScopeError(f"a request of a signed-in page must send the {CSRF_HEADER} header of its session")
    if not grants(row.scope, needed):
        raise ScopeError(f"this request needs a key with scope '{needed}' (this key has '{row.scope}')")
    return row
