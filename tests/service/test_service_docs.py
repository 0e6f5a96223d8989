"""``/docs`` (Swagger UI) in a real headless Chromium (Debian's package, driven by Playwright) against the API
served by uvicorn on 127.0.0.1: the page renders the operations of our OpenAPI 3.1 schema while every request it
makes goes to 127.0.0.1 (any other host is aborted and recorded), and nothing is logged as an error. The vendored
files are served with their media types and nothing else is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from pgcluster import free_port

from vidstruct.service.api.app import create_app
from vidstruct.service.docs_assets import ASSETS, ROOT
from vidstruct.service.settings import ServiceSettings

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the pages do not touch the database
_LOCAL = "127.0.0.1"


@pytest.fixture
def base_url(settings: ServiceSettings) -> Iterator[str]:
    """The API under uvicorn in a thread, on a free loopback port."""
    import uvicorn

    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=_LOCAL, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://{_LOCAL}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class _Watched:
    """A page whose requests to any host but 127.0.0.1 are aborted; what it requested and logged."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.requested: list[str] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("request", lambda r: self.requested.append(r.url))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlparse(url).hostname != _LOCAL:
            self.refused.append(url)
            route.abort()
        else:
            route.continue_()

    def hosts(self) -> set[str | None]:
        return {urlparse(u).hostname for u in self.requested if urlparse(u).scheme in ("http", "https")}


def test_swagger_ui_renders_our_operations_from_local_files_only(base_url: str, browser: Any) -> None:
    from playwright.sync_api import expect

    watched = _Watched(browser)
    page = watched.page
    page.goto(f"{base_url}/docs")
    submit = page.locator(".opblock-post .opblock-summary-path[data-path='/v1/jobs']")
    expect(submit).to_be_visible(timeout=30_000)
    expect(page.locator(".opblock-get .opblock-summary-path[data-path='/v1/jobs/{job_id}']")).to_be_visible()
    expect(page.locator(".opblock-post .opblock-summary-path[data-path='/v1/reels']")).to_be_visible()
    expect(page.locator("pre.version", has_text="OAS 3.1")).to_be_visible()  # our schema is OpenAPI 3.1
    page.wait_for_load_state("networkidle")
    assert watched.refused == [] and watched.hosts() == {_LOCAL}, watched.requested
    paths = {urlparse(u).path for u in watched.requested}
    assert {"/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"} <= paths
    assert watched.errors == [] and watched.failed == []
    watched.context.close()


def test_the_vendored_files_are_served_and_nothing_else(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        html = client.get("/docs").text
        assert "cdn.jsdelivr.net" not in html and "fastapi.tiangolo.com" not in html
        assert '"validatorUrl": null' in html  # no call to the online validator
        assert client.get("/redoc").status_code == 404  # not served: ReDoc loads its logo from a CDN
        for name, media_type in ASSETS.items():
            answer = client.get(f"/docs/assets/{name}")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(media_type), name
            assert answer.content == (ROOT / name).read_bytes()
        for name in ("__init__.py", "..%2F..%2Fsettings.py", "nope.js"):
            assert client.get(f"/docs/assets/{name}").status_code == 404
        assert "/docs" not in client.get("/openapi.json").json()["paths"]
