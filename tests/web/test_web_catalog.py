"""The pages' use of ``GET /v1/profiles`` and ``GET /v1/labels`` in a real headless Chromium against a real
``vidstruct serve``: the Upload page offers the service's profiles in a ``<select>`` with the default preselected
and sends the one chosen; the Search page's label inputs suggest the collection's labels (a ``<datalist>``), and as
the user types, those starting with what was typed, also the last label of a comma list.

The profiles expected are worked out from the folders (the server's ``--profile-dir``, ``DATA/profiles``, and
``configs/analyze`` of the folder the server runs in). The labels come from rows written straight into the
server's SQLite database: 60 labels ``common_00``..``common_59`` with 2 segments each and ``waltz`` with 1, so that
``waltz`` is not among the 50 most frequent labels the page starts with: only the request made as the user types
``walt`` can bring it.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from webkit import Server, assert_no_console_errors

from vidstruct.service.db.models import Analysis, Segment, Video
from vidstruct.service.db.session import make_engine, session_factory, transaction

TIMEOUT_MS = 60_000
COMMON = [f"common_{i:02d}" for i in range(60)]
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def expected_profiles(server: Server) -> list[str]:
    """The profile names a job may give this server: ``NAME.yaml`` in its profile folders, by name."""
    folders = (server.data_dir / "profiles", server.data_dir.parent / "profiles", Path.cwd() / "configs" / "analyze")
    names = {p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml") if _NAME.match(p.stem)}
    return sorted(names)


@pytest.fixture(scope="module")
def labelled(server: Server) -> None:
    """The labels of the module doc, written into the server's database (one video, one complete analysis)."""
    engine = make_engine(f"sqlite+pysqlite:///{server.data_dir / 'vidstruct.db'}")
    try:
        with transaction(session_factory(engine)) as session:
            video = Video(sha256="c" * 64, path="/nowhere/catalog.mp4", stored=False, size_bytes=1, duration_s=200.0)
            session.add(video)
            session.flush()
            analysis = Analysis(video_id=video.id, profile_name="hand", models={}, folder="a/hand", document={},
                                completed_at=datetime(2026, 1, 1, tzinfo=timezone.utc))  # fmt: skip
            session.add(analysis)
            session.flush()
            labels = [label for label in COMMON for _ in range(2)] + ["waltz"]
            session.add_all(
                Segment(analysis_id=analysis.id, video_id=video.id, label=label, start_s=float(i), end_s=i + 1.0,
                        score=0.5, source="recognizer", model="recognizer")
                for i, label in enumerate(labels)
            )  # fmt: skip
    finally:
        engine.dispose()


def test_the_upload_page_offers_the_profiles(server: Server, page_for: Any) -> None:
    page = page_for("write", "#/upload")
    listed = server.get("/v1/profiles", "read")
    names = expected_profiles(server)
    assert [p["name"] for p in listed["profiles"]] == names and "tiny" in names and len(names) >= 2
    options = page.eval_on_selector_all(
        "#upload-profile option", "os => os.map(o => ({value: o.value, text: o.textContent, usable: o.dataset.usable}))"
    )
    assert [o["value"] for o in options] == names
    assert page.input_value("#upload-profile") == "tiny"  # the server's --default-profile
    tiny = next(o for o in options if o["value"] == "tiny")
    assert tiny["text"].startswith("tiny (default)") and "r2plus1d_tiny" in tiny["text"] and tiny["usable"] == "true"
    assert_no_console_errors(page)

    # the profile chosen is the one the form sends (the request is answered here, not by the server)
    sent: list[bytes] = []

    def answer(route: Any) -> None:
        sent.append(route.request.post_data_buffer or b"")
        route.fulfill(status=422, content_type="application/problem+json", body='{"detail": "stopped by the test"}')

    page.route("**/v1/jobs", answer)
    other = next(n for n in names if n != "tiny")
    page.select_option("#upload-profile", other)
    page.set_input_files("#upload-file", files=[{"name": "x.mp4", "mimeType": "video/mp4", "buffer": b"\0" * 64}])
    page.click("form button[type=submit]")
    page.locator(".message .notice", has_text="stopped by the test").wait_for(timeout=TIMEOUT_MS)
    assert len(sent) == 1 and f'name="profile"\r\n\r\n{other}\r\n'.encode() in sent[0]


def test_the_search_page_suggests_labels_as_the_user_types(server: Server, labelled: None, page_for: Any) -> None:
    asked: list[dict[str, list[str]]] = []
    page = page_for("read", "#/search")
    page.on("request", lambda r: r.url.find("/v1/labels") >= 0 and asked.append(parse_qs(urlparse(r.url).query)))
    top = server.get("/v1/labels", "read", params={"limit": 50})["labels"]
    assert "waltz" not in {r["label"] for r in top}  # 1 segment: not among the 50 most frequent

    def values(selector: str) -> list[str]:
        return page.eval_on_selector_all(selector, "os => os.map(o => o.value)")

    # the page starts with the most frequent labels (asked for as it rendered)
    page.wait_for_function("() => document.querySelectorAll('#search-labels option').length >= 50", timeout=TIMEOUT_MS)
    assert set(values("#search-labels option")) == {r["label"] for r in top}

    page.click("#search-label")
    page.keyboard.type("WALT", delay=20)  # case-insensitive prefix
    page.wait_for_selector("#search-labels option[value='waltz']", state="attached", timeout=TIMEOUT_MS)
    assert {"prefix": ["WALT"], "limit": ["50"]} in asked
    note = page.get_attribute("#search-labels option[value='waltz']", "label")
    assert note == "1 segment in 1 video"
    assert page.get_attribute("#search-label", "list") == "search-labels"

    # a comma list: the last label is completed, the ones before it kept
    page.fill("#search-label", "")
    page.keyboard.type("common_07, wal", delay=20)
    page.wait_for_selector("#search-labels-list option[value='common_07, waltz']", state="attached",
                           timeout=TIMEOUT_MS)  # fmt: skip
    assert values("#search-labels-list option") == ["common_07, waltz"]
    assert page.get_attribute("#search-label", "list") == "search-labels-list"

    # the pair builder's inputs too
    page.click("#search-then")
    page.keyboard.type("common_5", delay=20)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#search-labels option')].some(o => o.value === 'common_59')",
        timeout=TIMEOUT_MS,
    )
    assert {"prefix": ["common_5"], "limit": ["50"]} in asked
    assert_no_console_errors(page)
