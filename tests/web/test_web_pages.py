"""The web pages in a real headless Chromium against a real ``vidstruct serve`` (one worker, SQLite, the tiny
constant-backbone profile): sign in by typing the key → upload a synthetic video through the file input → the
job shows progress and finishes → the video page shows every segment and a click seeks the player; a read key
is offered no Upload page. No page logs a console error; the key never shows in a URL or the server's log.

Expected segments, from how the video and profile are built: one hard cut at 1.0 s in a 2 s video makes two shots,
and the constant classifier puts ``walk`` on top everywhere with probability CONSTANT_PROB, so one ``walk``
segment per shot: 2, each with score CONSTANT_PROB (the API's /segments answer is checked against that too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from webkit import CONSTANT_PROB, Server, player_at, watch

from conftest import assert_no_console_errors, console_errors

EXPECTED_SEGMENTS = 2
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def flow(browser: Any, server: Server, video_path: Path) -> dict[str, Any]:
    """The whole flow in one page (the other tests look at what it left): sign in, upload, wait, open the video."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = watch(page)
    urls: list[str] = []
    page.on("framenavigated", lambda frame: urls.append(frame.url))
    page.on("request", lambda request: urls.append(request.url))
    seen: dict[str, Any] = {"page": page, "errors": errors, "urls": urls}

    page.goto(f"{server.url}/")
    page.wait_for_url(re.compile(r"#/signin"))
    page.fill("#signin-key", server.keys["write"])
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"#/jobs$"))
    seen["nav"] = page.locator("#nav a").all_inner_texts()

    page.click("#nav a[data-page=upload]")
    page.wait_for_selector("#upload-file")
    page.set_input_files("#upload-file", str(video_path))
    assert page.locator(".chosen").inner_text().startswith("cut.mp4")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"#/jobs\?job="), timeout=TIMEOUT_MS)
    job_id = page.url.split("job=")[1]
    seen["job_id"] = job_id
    row = page.locator(f"tr[data-job-id='{job_id}']")
    row.wait_for(timeout=TIMEOUT_MS)
    row.locator("a.video-link").wait_for(timeout=TIMEOUT_MS)
    seen["status"] = row.locator(".badge").inner_text()
    seen["stages"] = {
        s.get_attribute("data-stage"): s.locator(".stage-pct").inner_text() for s in row.locator(".stage").all()
    }
    seen["job"] = server.get(f"/v1/jobs/{job_id}")

    row.locator("a.video-link").click()
    page.wait_for_selector("#segments-table tbody tr", timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=TIMEOUT_MS)
    seen["video_id"] = seen["job"]["video_id"]
    return seen


def test_sign_in_upload_and_the_job_finishes(flow: dict[str, Any], server: Server) -> None:
    assert flow["nav"] == ["Upload", "Jobs", "Videos", "Search"]  # write: no Moderation
    assert flow["status"] == "succeeded" and flow["job"]["status"] == "SUCCEEDED"
    assert flow["job"]["profile"] == "tiny"
    # the job was made from the uploaded file with the default features
    assert flow["job"]["features"] == ["shots", "labels", "segments", "actors"]
    # its per-stage progress, as the API reports it, is shown as bars with percentages
    progress = flow["job"]["progress"]
    assert progress and flow["stages"] == {stage: f"{round(pct)}%" for stage, pct in progress.items()}


def test_the_video_page_shows_every_segment_and_a_click_seeks(flow: dict[str, Any], server: Server) -> None:
    page, video_id = flow["page"], flow["video_id"]
    api = server.get(f"/v1/videos/{video_id}/segments", scope="read")["segments"]
    assert len(api) == EXPECTED_SEGMENTS and {s["label"] for s in api} == {"walk"}
    assert all(abs(s["score"] - CONSTANT_PROB) < 1e-4 for s in api)
    rows = page.locator("#segments-table tbody tr.segment-row")
    assert rows.count() == len(api) == EXPECTED_SEGMENTS
    assert page.locator("#segments-count").inner_text() == f"{EXPECTED_SEGMENTS} of {EXPECTED_SEGMENTS} segments"
    # the lanes: one per label, one bar per segment, opacity = probability
    assert page.locator(".lane.label").count() == 1
    bars = page.locator(".lane.label .bar.segment")
    assert bars.count() == EXPECTED_SEGMENTS
    assert abs(float(bars.first.evaluate("b => getComputedStyle(b).opacity")) - CONSTANT_PROB) < 0.01
    assert page.locator(".lane.shots .bar").count() == len(server.get(f"/v1/videos/{video_id}/shots")["shots"])
    # a click on the second segment's row seeks the player to its start; a lane bar too
    later = max(api, key=lambda s: s["start_s"])
    page.locator(f"tr[data-segment-id='{later['segment_id']}']").click()
    player_at(page, later["start_s"])
    first = min(api, key=lambda s: s["start_s"])
    page.locator(f".bar.segment[data-segment-id='{first['segment_id']}']").click()
    player_at(page, first["start_s"])
    # the filter: a minimum probability above every segment's hides them all
    page.fill("#seg-min", "0.95")
    page.dispatch_event("#seg-min", "input")
    assert page.locator("#segments-count").inner_text() == f"0 of {EXPECTED_SEGMENTS} segments"
    # export links need no key in the URL: the cookie downloads them
    href = page.locator(".exports a[data-format=webvtt]").get_attribute("href")
    r = page.context.request.get(href)
    assert r.status == 200 and r.text().startswith("WEBVTT")
    assert_clean(flow)


def assert_clean(flow: dict[str, Any]) -> None:
    assert flow["errors"] == [], "\n".join(flow["errors"])


def test_a_read_key_is_offered_no_upload_and_no_key_leaks(flow: dict[str, Any], server: Server, page_for: Any) -> None:
    page = page_for("read", "#/videos")
    assert page.locator("#nav a").all_inner_texts() == ["Videos", "Search"]
    page.locator("#video-list a").first.wait_for()
    assert page.locator("#video-list a").all_inner_texts() == [flow["video_id"]]
    page.goto(f"{server.url}/#/upload")
    page.wait_for_selector("main p.notice")
    assert page.locator("main").inner_text().strip() == "This page needs scope write."
    # the read key opens the video page (media and thumbnails through the cookie)
    page.goto(f"{server.url}/#/videos/{flow['video_id']}?t=1.2")
    page.wait_for_selector("#segments-table tbody tr")
    player_at(page, 1.2)
    assert page.locator(".shot-strip img").count() >= 1
    page.wait_for_function("() => [...document.querySelectorAll('.shot-strip img')].every((i) => i.naturalWidth > 0)")
    assert_no_console_errors(page)
    assert console_errors(page) == []
    # the keys never went into a URL, nor into the server's log
    keys = list(server.keys.values())
    assert not [u for u in flow["urls"] if any(k in u for k in keys)]
    log = server.log_text()
    assert "/ui/session" in log  # the access log is on: the check below reads real lines
    assert not [k for k in keys if k in log or k[8:24] in log]
    assert_clean(flow)


def test_the_similar_button_opens_search_with_the_segment(flow: dict[str, Any]) -> None:
    page, video_id = flow["page"], flow["video_id"]
    assert_clean(flow)  # what follows opens the search page (its own tests check it)
    page.fill("#seg-min", "0")
    page.dispatch_event("#seg-min", "input")
    row = page.locator("#segments-table tbody tr.segment-row").first
    start = float(row.get_attribute("data-start"))
    row.locator("button.similar").click()
    page.wait_for_url(re.compile(r"#/search\?similar="))
    value = page.url.split("similar=")[1]
    vid, s, e = unquote(value).split(",")
    assert vid == video_id and abs(float(s) - start) < 1e-9 and float(e) > float(s)
