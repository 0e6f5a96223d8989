"""Fixtures of the web tests (the pages in a real headless Chromium against a real ``vidstruct serve``).

- ``browser`` (session): Playwright's Chromium, Debian's binary, ``--no-sandbox``;
- ``server_policy`` (module): a moderation policy's YAML text for the module's server, None by default (a test
  module overrides it by defining its own ``server_policy`` fixture; :data:`webkit.WALK_FLAG_POLICY` flags
  every ``walk`` segment);
- ``server`` (module): a :class:`webkit.Server` (URL, data folder, ``keys[scope]`` for read / write / review /
  admin, ``submit`` / ``wait_job`` / ``get`` helpers), one per test module, stopped afterwards;
- ``video_path`` (session): a 2 s, 10 fps, 64 px H.264 mp4 with one cut at 1.0 s;
- ``page_for``: ``page_for(scope, hash="#/")`` → a new Playwright page signed in with that scope's key (through
  ``POST /ui/session``) and opened at ``hash`` once the page has rendered (``body[data-state=ready]``, which the
  app sets after a page's ``render`` finished), its console errors collected; ``webkit.assert_no_console_errors``
  fails when any page made so far logged one (test modules import helpers from ``webkit``, never from ``conftest``:
  every test folder's conftest is a module named ``conftest``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from webkit import Server, cut_video, forget_page, start_server, track_page


@pytest.fixture(scope="module")
def server_policy() -> str | None:
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_policy: str | None) -> Iterator[Server]:
    instance = start_server(tmp_path_factory.mktemp("web"), policy=server_policy)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_video(tmp_path_factory.mktemp("webvideo") / "cut.mp4")


@pytest.fixture
def page_for(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(scope: str, hash: str = "#/") -> Any:
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
        contexts.append(context)
        r = context.request.post("/ui/session", data={"key": server.keys[scope]})
        assert r.status == 200, r.text()
        page = context.new_page()
        track_page(page)
        page.goto(f"{server.url}/{hash}")
        page.wait_for_selector("body[data-state=ready]", timeout=30_000)
        return page

    yield make
    for context in contexts:
        for page in context.pages:
            forget_page(page)
        context.close()
