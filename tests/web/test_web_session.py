"""The web pages' server side through FastAPI's TestClient (SQLite): sign-in sessions (cookie flags, tampering,
expiry, revocation), the API through the cookie (scopes, CSRF), the page's security headers, and no key in any
URL or log line."""

from __future__ import annotations

import hashlib
import hmac
import logging
import multiprocessing
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vidstruct.service.api.app import create_app
from vidstruct.service.auth import create_key, revoke_key
from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.models import ApiKey
from vidstruct.service.db.session import make_engine, transaction
from vidstruct.service.settings import ServiceSettings
from vidstruct.service.web_session import COOKIE, SECRET_FILE, make_token, session_secret

SCOPES = ("read", "write", "review", "admin")


@dataclass
class Web:
    client: TestClient
    settings: ServiceSettings
    keys: dict[str, str]
    ids: dict[str, int]

    def sign_in(self, scope: str) -> dict:
        r = self.client.post("/ui/session", json={"key": self.keys[scope]})
        assert r.status_code == 200, r.text
        return r.json()

    def factory(self):
        return self.client.app.state.service.factory  # type: ignore[attr-defined]


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    url = f"sqlite+pysqlite:///{tmp_path / 'vidstruct.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = ServiceSettings(data_dir=tmp_path / "data", db_url=url)
    app = create_app(settings)
    with transaction(app.state.service.factory) as session:
        made = {scope: create_key(session, scope) for scope in SCOPES}
        keys = {scope: key for scope, (key, _) in made.items()}
        ids = {scope: row.id for scope, (_, row) in made.items()}
    with TestClient(app, base_url="http://testserver") as client:
        yield Web(client, settings, keys, ids)
    app.state.service.engine.dispose()


def _set_cookies(response) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            cookies[name] = morsel
    return cookies


def test_sign_in_sets_a_signed_http_only_strict_cookie_naming_the_key_id(web: Web) -> None:
    r = web.client.post("/ui/session", json={"key": web.keys["write"]})
    assert r.status_code == 200
    body = r.json()
    assert body["scope"] == "write" and body["key_prefix"] == web.keys["write"][:8]
    assert len(body["csrf"]) == 32
    morsel = _set_cookies(r)[COOKIE]
    raw = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in raw and "SameSite=strict" in raw.replace("Strict", "strict") and "Path=/" in raw
    assert "Secure" not in raw  # plain http here
    token = morsel.value
    assert web.keys["write"] not in raw and web.keys["write"] not in r.text
    # the token: KEY_ID.EXPIRES.HMAC-SHA256(secret, session|id|expires|key hash), checked independently here
    key_id, expires, signature = token.split(".")
    assert int(key_id) == web.ids["write"]
    assert 0 < int(expires) - time.time() <= 12 * 3600 + 5
    secret_file = web.settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    secret = secret_file.read_text().strip().encode()
    key_hash = hashlib.sha256(web.keys["write"].encode()).hexdigest()
    expected = hmac.new(secret, f"session|{key_id}|{expires}|{key_hash}".encode(), hashlib.sha256).hexdigest()
    assert signature == expected
    # GET /ui/session answers the same for the cookie
    again = web.client.get("/ui/session")
    assert again.status_code == 200 and again.json() == {k: body[k] for k in ("scope", "key_prefix", "csrf")}


def test_https_requests_get_a_secure_cookie(web: Web) -> None:
    with TestClient(web.client.app, base_url="https://testserver") as client:
        r = client.post("/ui/session", json={"key": web.keys["read"]})
    raw = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    assert "Secure" in raw


@pytest.mark.parametrize(
    ("body", "status"),
    [({"key": "vs_" + "x" * 43}, 401), ({"key": ""}, 400), ({}, 400)],
)
def test_a_bad_key_gets_no_session(web: Web, body: dict, status: int) -> None:
    r = web.client.post("/ui/session", json=body)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert COOKIE not in _set_cookies(r)
    assert web.client.get("/ui/session").status_code == 401


def test_sign_in_from_another_site_or_as_a_form_is_refused(web: Web) -> None:
    r = web.client.post("/ui/session", json={"key": web.keys["read"]}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and COOKIE not in _set_cookies(r)
    r = web.client.post("/ui/session", data={"key": web.keys["read"]})
    assert r.status_code == 400 and COOKIE not in _set_cookies(r)


def test_without_a_cookie_get_session_is_401_problem_json(web: Web) -> None:
    r = web.client.get("/ui/session")
    assert r.status_code == 401 and r.json()["status"] == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def _use(web: Web, token: str) -> None:
    """Send ``token`` as the only session cookie."""
    web.client.cookies.clear()
    web.client.cookies.set(COOKIE, token)


def _tampered(token: str) -> list[str]:
    key_id, expires, sig = token.split(".")
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    return [
        f"{key_id}.{expires}.{flipped}",  # signature changed
        f"{key_id}.{int(expires) + 3600}.{sig}",  # expiry extended
        f"{int(key_id) + 1}.{expires}.{sig}",  # another key's id
        f"{'9' * 30}.{expires}.{sig}",  # an id past 64 bits
        f"{key_id}.{expires}.{sig.upper()}",  # the same signature in upper case
        "garbage",
        "",
    ]


def test_a_tampered_or_expired_cookie_is_401(web: Web) -> None:
    web.sign_in("admin")
    token = web.client.cookies[COOKIE]
    for bad in _tampered(token):
        _use(web, bad)
        r = web.client.get("/ui/session")
        assert r.status_code == 401, bad
        r = web.client.get("/v1/jobs")
        assert r.status_code == 401, bad
    # a correctly signed token whose time is up
    secret = session_secret(web.settings.data_dir)
    with web.factory()() as session:
        row = session.get(ApiKey, web.ids["admin"])
        expired = make_token(secret, row, expires=int(time.time()) - 1)
        fresh = make_token(secret, row)
    _use(web, expired)
    r = web.client.get("/v1/jobs")
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    _use(web, fresh)
    assert web.client.get("/v1/jobs").status_code == 200


def test_a_revoked_keys_session_stops_at_the_next_request(web: Web) -> None:
    web.sign_in("write")
    assert web.client.get("/v1/jobs").status_code == 200
    with transaction(web.factory()) as session:
        assert revoke_key(session, web.ids["write"])
    r = web.client.get("/v1/jobs")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert web.client.get("/ui/session").status_code == 401


def test_the_cookie_carries_the_keys_scope_and_csrf_guards_changes(web: Web) -> None:
    csrf = web.sign_in("read")["csrf"]
    assert web.client.get("/v1/jobs").status_code == 200
    files = {"file": ("a.mp4", b"not a video", "video/mp4")}
    r = web.client.post("/v1/jobs", files=files, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "scope 'write'" in r.json()["detail"]
    # no CSRF header, a wrong one, another session's: 403 before anything is read
    for headers in ({}, {"X-CSRF-Token": "0" * 32}, {"X-CSRF-Token": web.sign_in("admin")["csrf"]}):
        # each sign-in makes a new token (its expiry is in whole seconds): keep the CSRF value of the cookie in use
        csrf = web.sign_in("write")["csrf"]
        r = web.client.post("/v1/jobs", files=files, headers=headers)
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"], headers
        assert r.headers["content-type"].startswith("application/problem+json")
    r = web.client.delete("/v1/jobs/nope")
    assert r.status_code == 403
    # with the right one the request goes through to the route (a non-video upload: 422)
    r = web.client.post("/v1/jobs", files=files, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
    r = web.client.delete("/v1/jobs/nope", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404


def test_a_bearer_header_still_wins_over_the_cookie(web: Web) -> None:
    web.sign_in("admin")
    files = {"file": ("a.mp4", b"not a video", "video/mp4")}
    r = web.client.post("/v1/jobs", files=files, headers={"Authorization": f"Bearer {web.keys['read']}"})
    assert r.status_code == 403 and "scope 'write'" in r.json()["detail"]


def test_sign_out_clears_the_cookie(web: Web) -> None:
    web.sign_in("read")
    r = web.client.delete("/ui/session")
    assert r.status_code == 200
    assert web.client.get("/ui/session").status_code == 401
    assert web.client.get("/v1/jobs").status_code == 401


def test_the_page_and_its_files_carry_a_strict_csp(web: Web) -> None:
    r = web.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/ui/static/app.js">' in r.text and "<style" not in r.text
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("pages/video.js", "text/javascript")):
        r = web.client.get(f"/ui/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), name
        assert r.headers["content-security-policy"] == csp
    for bad in ("../api/web.py", "..%2Fapi%2Fweb.py", "__init__.py", "nope.js", "pages/../../auth.py"):
        assert web.client.get(f"/ui/static/{bad}").status_code == 404, bad


def test_the_web_routes_are_not_in_the_openapi_schema(web: Web) -> None:
    paths = web.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]


def test_no_key_in_any_url_or_log_line(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    web.client.post("/ui/session", json={"key": web.keys["admin"]})
    web.client.post("/ui/session", json={"key": web.keys["admin"][:-1] + "!"})
    web.client.get("/v1/jobs")
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert web.keys["admin"] not in text and web.keys["admin"][8:20] not in text
    token = web.client.cookies[COOKIE]
    assert token.split(".")[2] not in text


def _secret_in_process(data_dir: str) -> bytes:
    return session_secret(Path(data_dir))


def test_the_secret_is_made_once_for_every_process_and_sessions_survive_a_restart(web: Web, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        made = list(pool.map(_secret_in_process, [str(folder)] * 8))
    assert len(set(made)) == 1 and len(made[0]) == 64
    assert (folder / SECRET_FILE).read_text().strip().encode() == made[0]
    assert stat.S_IMODE(os.stat(folder / SECRET_FILE).st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [SECRET_FILE]  # no temporary file left
    # a new app over the same data folder (a restart, or another API process) accepts the session
    web.sign_in("review")
    token = web.client.cookies[COOKIE]
    other = create_app(web.settings)
    try:
        with TestClient(other) as client:
            client.cookies.set(COOKIE, token)
            r = client.get("/ui/session")
            assert r.status_code == 200 and r.json()["scope"] == "review"
    finally:
        other.state.service.engine.dispose()
