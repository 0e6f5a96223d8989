"""The Videos page in a real headless Chromium against a real ``vidstruct serve`` (SQLite, the tiny constant
profile): it lists from ``GET /v1/videos``: one analysed upload (its thumbnail loads, its label chip counts its
segments) and 30 videos stored here directly (labels, one blocked, some not analysed, no thumbnails), 24 a page;
"Older" shows the rest, the URL keeps the page across a reload, "Newer" goes back, a label chip filters the list.
The expected lists are worked out here from what was stored."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from webkit import Server, assert_no_console_errors

from vidstruct.service.db.models import Analysis, Job, ModerationFlag, Segment, Video
from vidstruct.service.db.session import make_engine, session_factory, transaction

TIMEOUT_MS = 60_000
PAGE = 24
STORED = 30
BASE = datetime(2020, 1, 1, tzinfo=timezone.utc)


def _stored_labels(i: int) -> list[str]:
    """The segment labels of stored video ``i`` (none: not analysed)."""
    if i % 5 == 4:
        return []
    return ["run"] * (1 + i % 3) + (["jump"] if i % 4 == 0 else [])


@pytest.fixture(scope="module")
def collection(server: Server, video_path: Path) -> dict[str, Any]:
    """The upload's video id, and the stored videos' ids newest first with their labels; ``blocked``: the one
    blocked video."""
    real = server.wait_job(server.submit(video_path))["video_id"]
    engine = make_engine(f"sqlite+pysqlite:///{server.data_dir / 'vidstruct.db'}")
    stored: dict[str, list[str]] = {}
    blocked = ""
    try:
        with transaction(session_factory(engine)) as session:
            for i in range(STORED):
                vid = hashlib.md5(f"web-video-{i}".encode()).hexdigest()
                labels = _stored_labels(i)
                stored[vid] = labels
                session.add(Video(id=vid, sha256=vid * 2, path=f"/srv/{i}.mp4", stored=False, size_bytes=1,
                                  duration_s=1.0 + i, width=64, height=64, tags=[],
                                  created_at=BASE + timedelta(minutes=i)))  # fmt: skip
                session.flush()
                if labels:
                    aid = hashlib.md5(f"web-analysis-{i}".encode()).hexdigest()
                    session.add(Analysis(id=aid, video_id=vid, profile_name="tiny", models={}, folder=f"x/{i}",
                                         document={}))  # fmt: skip
                    session.flush()
                    session.add_all(Segment(analysis_id=aid, video_id=vid, label=label, start_s=n, end_s=n + 1.0,
                                            score=0.8, source="s", model="m")
                                    for n, label in enumerate(labels))  # fmt: skip
                else:
                    session.add(Job(video_id=vid, features=[], profile="tiny", status="FAILED", error="x"))
                if i == 7:
                    blocked = vid
                    session.add(ModerationFlag(video_id=vid, analysis_id=aid, rule_key="r", rule={}, severity="high",
                                               action="block", label="run", start_s=0.0, end_s=1.0, probability=0.8,
                                               models={}, policy_sha256="p" * 64, status="open"))  # fmt: skip
    finally:
        engine.dispose()
    newest_first = list(reversed(stored))  # stored in created order, all older than the upload
    return {"real": real, "stored": stored, "order": [real, *newest_first], "blocked": blocked}


def _listed(page: Any) -> list[str]:
    return page.eval_on_selector_all("#video-list li", "lis => lis.map((li) => li.dataset.videoId)")


def _on_page(page: Any, number: int, rows: int) -> None:
    page.wait_for_function(
        "([n, rows]) => document.querySelector('#videos-page')?.textContent === `Page ${n}` && "
        "document.body.dataset.state === 'ready' && document.querySelectorAll('#video-list li').length === rows",
        arg=[number, rows],
        timeout=TIMEOUT_MS,
    )


def test_videos_page_lists_pages_thumbnails_chips_and_badges(
    server: Server, collection: dict[str, Any], page_for: Any
) -> None:
    order, real = collection["order"], collection["real"]
    assert len(order) == STORED + 1
    page = page_for("read", "#/videos")
    _on_page(page, 1, PAGE)
    assert _listed(page) == order[:PAGE]
    assert page.locator("#video-list a").all_inner_texts() == order[:PAGE]  # the links to the video pages
    assert page.locator("#videos-newer").is_disabled() and page.locator("#videos-older").is_enabled()
    text = page.inner_text("main")  # no missing part written as text (DOM append() writes null as "null")
    assert "null" not in text and "undefined" not in text, text
    # the upload: its thumbnail loads, its one label's chip counts its segments
    first = page.locator(f"#video-list li[data-video-id='{real}']")
    page.wait_for_function(
        "() => { const i = document.querySelector('#video-list li img.video-thumb'); return i && i.complete && "
        "i.naturalWidth > 0; }",
        timeout=TIMEOUT_MS,
    )
    walk = len(server.get(f"/v1/videos/{real}/segments", "read")["segments"])
    assert first.locator(".label-chip").all_inner_texts() == [f"walk {walk}"]
    # stored videos: chips by count, a blocked badge on the blocked one only, the unanalysed ones say so
    for vid in order[1:PAGE]:
        labels = collection["stored"][vid]
        item = page.locator(f"#video-list li[data-video-id='{vid}']")
        counts = {label: labels.count(label) for label in labels}  # most segments first, then by name (same score)
        want = [f"{label} {n}" for label, n in sorted(counts.items(), key=lambda c: (-c[1], c[0]))]
        assert item.locator(".label-chip").all_inner_texts() == want, vid
        assert item.locator(".blocked-badge").count() == (1 if vid == collection["blocked"] else 0)
        assert item.locator(".status-badge").all_inner_texts() == ([] if labels else ["not analysed · failed"])
        assert item.locator("img").count() == 0  # none stored
    # Older: the rest; the URL keeps the page; Newer goes back
    page.click("#videos-older")
    page.wait_for_url(re.compile(r"#/videos\?older="))
    _on_page(page, 2, len(order) - PAGE)
    assert _listed(page) == order[PAGE:]
    assert page.locator("#videos-older").is_disabled() and page.locator("#videos-newer").is_enabled()
    page.reload()
    _on_page(page, 2, len(order) - PAGE)
    assert _listed(page) == order[PAGE:]
    page.click("#videos-newer")
    page.wait_for_url(re.compile(r"#/videos$"))
    _on_page(page, 1, PAGE)
    assert _listed(page) == order[:PAGE]
    # a chip filters by its label
    page.locator(".label-chip[data-label='jump']").first.click()
    page.wait_for_url(re.compile(r"#/videos\?label=jump$"))
    jumping = [v for v in order[1:] if "jump" in collection["stored"][v]]
    _on_page(page, 1, len(jumping))
    assert _listed(page) == jumping
    assert page.locator("#videos-older").is_disabled()
    assert_no_console_errors(page)


def test_a_reviewer_sees_the_blocked_badge_too(server: Server, collection: dict[str, Any], page_for: Any) -> None:
    page = page_for("review", "#/videos")
    _on_page(page, 1, PAGE)
    blocked = page.locator(f"#video-list li[data-video-id='{collection['blocked']}'] .blocked-badge")
    assert blocked.inner_text() == "blocked"
    assert page.locator(".blocked-badge").count() == 1
    assert_no_console_errors(page)
