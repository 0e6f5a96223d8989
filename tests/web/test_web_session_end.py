"""Web sign-out ends the session on the server (migration 0008), on SQLite and PostgreSQL: a copied cookie stops
working after sign-out while another session of the key goes on; expired rows of ended sessions are purged in
bounded batches; "sign out everywhere" (``POST /ui/session/end-all``, CSRF-protected) ends every session of the
key made until then and no other key's; the migration's upgrade / downgrade round trip; and in a real Chromium,
the page's Sign out and Sign out everywhere buttons make the old cookie value useless.

Tokens have whole-second expiry, so two sign-ins in the same second may give the same token: wherever a test needs
two distinct sessions of one key it makes the second with an explicit ``expires=`` (never relying on the clock
ticking over or not).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from webkit import Server, assert_no_console_errors

from vidstruct.service.api.app import create_app
from vidstruct.service.auth import create_key, hash_key
from vidstruct.service.db import migrate
from vidstruct.service.db.migrate import current_revision, upgrade
from vidstruct.service.db.models import ApiKey, AuditEntry, Base, WebSessionEnded
from vidstruct.service.db.session import make_engine, transaction
from vidstruct.service.settings import ServiceSettings
from vidstruct.service.web_session import COOKIE, PURGE_BATCH, SESSION_TTL_S, csrf_token, make_token, session_secret


def _service_conftest() -> ModuleType:
    """``tests/service/conftest.py`` (its ``pg_server`` / ``db_url`` fixtures) under another module name, loaded
    once per process (the indexing tests load it under the same name)."""
    name = "service_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "service" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


pg_server = _service_conftest().pg_server
db_url = _service_conftest().db_url


@dataclass
class Web:
    client: TestClient
    settings: ServiceSettings
    keys: dict[str, str]
    ids: dict[str, int]

    def factory(self) -> Any:
        return self.client.app.state.service.factory  # type: ignore[attr-defined]

    def secret(self) -> bytes:
        return session_secret(self.settings.data_dir)

    def token(self, scope: str, expires: int) -> str:
        """A session token of the ``scope`` key expiring at ``expires`` (Unix seconds)."""
        with self.factory()() as session:
            return make_token(self.secret(), session.get(ApiKey, self.ids[scope]), expires=expires)

    def sign_in(self, scope: str) -> tuple[str, str]:
        """Sign in through the API: (token of the cookie, CSRF value)."""
        r = self.client.post("/ui/session", json={"key": self.keys[scope]})
        assert r.status_code == 200, r.text
        return self.client.cookies[COOKIE], r.json()["csrf"]

    def use(self, token: str) -> None:
        """Send ``token`` as the only cookie."""
        self.client.cookies.clear()
        self.client.cookies.set(COOKIE, token)

    def status(self, token: str) -> tuple[int, int]:
        """(status of GET /v1/jobs, of GET /ui/session) with ``token`` as the cookie."""
        self.use(token)
        return self.client.get("/v1/jobs").status_code, self.client.get("/ui/session").status_code

    def ended_rows(self) -> list[WebSessionEnded]:
        with self.factory()() as session:
            return list(session.scalars(select(WebSessionEnded)))


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    settings = ServiceSettings(data_dir=tmp_path / "data", db_url=db_url)
    app = create_app(settings)
    with transaction(app.state.service.factory) as session:
        made = {scope: create_key(session, scope) for scope in ("read", "write")}
    with TestClient(app, base_url="http://testserver") as client:
        yield Web(client, settings, {s: k for s, (k, _) in made.items()}, {s: r.id for s, (_, r) in made.items()})
    app.state.service.engine.dispose()


def _expires(token: str) -> int:
    return int(token.split(".")[1])


def _clears_cookie(response: Any) -> bool:
    """Whether ``response`` tells the browser to drop the session cookie (empty value, Max-Age 0)."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    return len(headers) == 1 and headers[0].startswith(f'{COOKIE}="";') and "Max-Age=0" in headers[0]


def test_a_copied_cookie_stops_working_after_sign_out_and_other_sessions_go_on(web: Web) -> None:
    copied, _ = web.sign_in("write")
    other = web.token("write", _expires(copied) - 7)  # another session of the same key (a distinct token)
    assert other != copied
    assert web.status(copied) == (200, 200) and web.status(other) == (200, 200)
    web.use(copied)
    r = web.client.delete("/ui/session")
    assert r.status_code == 200 and r.json() == {"signed_in": False}
    assert _clears_cookie(r)  # the browser's cookie is cleared...
    assert web.status(copied) == (401, 401)  # ...and a copy of it is refused
    web.use(copied)
    r = web.client.get("/v1/jobs")
    assert r.json()["detail"] == "the session was signed out: sign in again"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert web.status(other) == (200, 200)
    # the table holds the token's SHA-256 (computed here independently), never the token or its signature
    (row,) = web.ended_rows()
    assert row.token_sha256 == hashlib.sha256(copied.encode()).hexdigest()
    assert row.key_id == web.ids["write"]
    assert row.expires_at == datetime.fromtimestamp(_expires(copied), timezone.utc)
    signature = copied.split(".")[2]
    with web.factory()() as session:
        dumped = " ".join(str(v) for v in session.execute(text("SELECT * FROM web_sessions_ended")).one())
    assert signature not in dumped and copied not in dumped
    # signing out again with the copy, or with a tampered / garbage cookie, answers 200 and stores nothing
    for cookie in (copied, copied[:-1] + ("0" if copied[-1] != "0" else "1"), "garbage"):
        web.use(cookie)
        assert web.client.delete("/ui/session").status_code == 200
    web.client.cookies.clear()
    assert web.client.delete("/ui/session").status_code == 200
    assert len(web.ended_rows()) == 1


def test_sign_out_deletes_expired_rows_in_bounded_batches(web: Web) -> None:
    now = datetime.now(timezone.utc)
    expired, live = PURGE_BATCH + 5, 3
    with transaction(web.factory()) as session:
        for i in range(expired):
            session.add(WebSessionEnded(token_sha256=f"{i:064x}", key_id=web.ids["read"],
                                        expires_at=now - timedelta(seconds=60 + i)))  # fmt: skip
        for i in range(live):
            session.add(WebSessionEnded(token_sha256=f"f{i:063x}", key_id=web.ids["read"],
                                        expires_at=now + timedelta(hours=1)))  # fmt: skip
    base = int(time.time()) + 3600
    first, second = web.token("read", base), web.token("read", base + 1)
    web.use(first)
    assert web.client.delete("/ui/session").status_code == 200
    rows = web.ended_rows()
    # one batch of expired rows gone, the 5 left over stay until the next sign-out; live rows and the new one stay
    assert sum(r.expires_at < now for r in rows) == 5
    assert len(rows) == 5 + live + 1
    web.use(second)
    assert web.client.delete("/ui/session").status_code == 200
    rows = web.ended_rows()
    assert sum(r.expires_at < now for r in rows) == 0 and len(rows) == live + 2
    assert web.status(first) == (401, 401) and web.status(second) == (401, 401)


def test_sign_out_everywhere_ends_every_session_of_the_key_and_no_other(web: Web) -> None:
    mine, csrf = web.sign_in("write")
    older = web.token("write", _expires(mine) - 100)  # issued 100 s before the sign-in
    theirs = web.token("read", _expires(mine))
    for token in (mine, older, theirs):
        assert web.status(token) == (200, 200)
    # CSRF: none, a wrong value, another session's value: 403 and nothing ends
    for headers in ({}, {"X-CSRF-Token": "0" * 32}, {"X-CSRF-Token": csrf_token(web.secret(), older)}):
        web.use(mine)
        r = web.client.post("/ui/session/end-all", headers=headers)
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"], headers
    assert web.status(mine) == (200, 200) and web.status(older) == (200, 200)
    # without a session (no cookie, or a bearer key only): 401
    web.client.cookies.clear()
    assert web.client.post("/ui/session/end-all", headers={"X-CSRF-Token": csrf}).status_code == 401
    bearer = {"Authorization": f"Bearer {web.keys['write']}"}
    assert web.client.post("/ui/session/end-all", headers=bearer).status_code == 401

    before = int(time.time())
    web.use(mine)
    r = web.client.post("/ui/session/end-all", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json() == {"signed_in": False}
    assert _clears_cookie(r)
    for token in (mine, older):
        assert web.status(token) == (401, 401)
        r = web.client.get("/v1/jobs")
        assert r.json()["detail"] == "the session was ended by 'sign out everywhere': sign in again"
    assert web.status(theirs) == (200, 200)  # the read key's session goes on
    assert web.client.get("/v1/jobs", headers=bearer).status_code == 200  # the key itself is not revoked
    with web.factory()() as session:
        row = session.get(ApiKey, web.ids["write"])
        assert row.sessions_not_before is not None and row.sessions_not_before.timestamp() > before
        not_before = int(row.sessions_not_before.timestamp())
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "session.end_all")).all()
        assert [(a.actor, a.target) for a in audit] == [(f"key:{row.id}", f"key:{row.id}")]
        assert session.scalars(select(ApiKey).where(ApiKey.id == web.ids["read"])).one().sessions_not_before is None

    # a sign-in right afterwards works at once (the same second or not), and a second end-all ends it too
    web.client.cookies.clear()
    fresh, fresh_csrf = web.sign_in("write")
    assert _expires(fresh) - SESSION_TTL_S >= not_before  # issued no earlier than sessions_not_before
    assert web.status(fresh) == (200, 200)
    web.use(fresh)
    assert web.client.post("/ui/session/end-all", headers={"X-CSRF-Token": fresh_csrf}).status_code == 200
    assert web.status(fresh) == (401, 401)
    assert web.status(theirs) == (200, 200)


def test_the_migration_upgrades_and_downgrades(db_url: str) -> None:
    engine = make_engine(db_url)
    config = migrate._config()

    def run(step: Any, revision: str) -> None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, revision)

    assert upgrade(engine, "0007") == "0007"
    with engine.begin() as conn:  # a key made before the upgrade
        insert = "INSERT INTO api_keys (key_hash, prefix, scope, created_at) VALUES (:h, 'vs_abc', 'read', :t)"
        conn.execute(text(insert), {"h": "a" * 64, "t": datetime(2026, 1, 1)})
    assert upgrade(engine, "0008") == "0008"
    tables = inspect(engine).get_table_names()
    assert "web_sessions_ended" in tables
    columns = {c["name"]: c for c in inspect(engine).get_columns("web_sessions_ended")}
    assert sorted(columns) == ["ended_at", "expires_at", "key_id", "token_sha256"]
    assert inspect(engine).get_pk_constraint("web_sessions_ended")["constrained_columns"] == ["token_sha256"]
    assert "sessions_not_before" in {c["name"] for c in inspect(engine).get_columns("api_keys")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT key_hash, sessions_not_before FROM api_keys")).all() == [("a" * 64, None)]
    run(command.downgrade, "0007")
    assert current_revision(engine) == "0007"
    inspector = inspect(engine)
    assert "web_sessions_ended" not in inspector.get_table_names()
    assert "sessions_not_before" not in {c["name"] for c in inspector.get_columns("api_keys")}
    with engine.connect() as conn:  # the key survived the round trip
        assert conn.execute(text("SELECT key_hash, scope FROM api_keys")).all() == [("a" * 64, "read")]
    assert upgrade(engine, "0008") == "0008"
    assert "web_sessions_ended" in inspect(engine).get_table_names()
    upgrade(engine)  # the newest revision: the models and the migrated schema agree
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


# --- in a real Chromium against a real `vidstruct serve` -------------------------------------------------------


def _cookie_of(page: Any) -> str:
    (value,) = [c["value"] for c in page.context.cookies() if c["name"] == COOKIE]
    return value


def _answers(server: Server, token: str) -> tuple[int, int, str]:
    """(GET /v1/jobs, GET /ui/session, the jobs answer's detail) with ``token`` as the only cookie, from outside
    the browser (a copied cookie)."""
    with httpx.Client(base_url=server.url, timeout=30, cookies={COOKIE: token}) as client:
        jobs = client.get("/v1/jobs")
        session = client.get("/ui/session")
    return jobs.status_code, session.status_code, jobs.json().get("detail", "")


def _click_and_wait_for_sign_in(page: Any, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_function("() => location.hash.startsWith('#/signin')", timeout=60_000)
    page.wait_for_selector("body[data-state=ready]", timeout=60_000)
    assert page.get_by_role("button", name="Sign out", exact=True).count() == 0


def test_the_pages_sign_out_buttons_end_the_sessions(server: Server, page_for: Any) -> None:
    page = page_for("write", "#/jobs")
    token = _cookie_of(page)
    assert _answers(server, token)[:2] == (200, 200)
    _click_and_wait_for_sign_in(page, "Sign out")
    assert _answers(server, token) == (401, 401, "the session was signed out: sign in again")

    # sign out everywhere: the page's session and another one of the read key end, the admin key's goes on
    page = page_for("read", "#/videos")
    token = _cookie_of(page)
    secret = (server.data_dir / "session.secret").read_text().strip().encode()
    row = ApiKey(id=server.key_ids["read"], key_hash=hash_key(server.keys["read"]))
    elsewhere = make_token(secret, row, expires=_expires(token) - 60)
    admin = _cookie_of(page_for("admin", "#/videos"))
    for value in (token, elsewhere, admin):
        assert _answers(server, value)[:2] == (200, 200)
    _click_and_wait_for_sign_in(page, "Sign out everywhere")
    ended = "the session was ended by 'sign out everywhere': sign in again"
    assert _answers(server, token) == (401, 401, ended)
    assert _answers(server, elsewhere) == (401, 401, ended)
    assert _answers(server, admin)[:2] == (200, 200)
    assert_no_console_errors(page)
