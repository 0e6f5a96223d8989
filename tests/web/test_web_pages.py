"""The web pages in a real headless Chromium against a real ``vidstruct serve`` (one worker, SQLite, the tiny
constant-backbone profile): sign in by typing the key → upload a synthetic video through the file input → the
job shows progress and finishes → the video page shows every segment and a click seeks the player; a read key
is offered no Upload page; actor boxes over the picture; a video blocked by moderation shows no media to a read
key; a failed job's error; cancel. No page logs a console error; the key never shows in a URL or the server's log.

Expected segments, from how the video and profile are built: one hard cut at 1.0 s in a 2 s video makes two shots,
and the constant classifier puts ``walk`` on top everywhere with probability CONSTANT_PROB, so one ``walk``
segment per shot: 2, each with score CONSTANT_PROB (the API's /segments answer is checked against that too).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from webkit import (
    CONSTANT_PROB,
    Server,
    add_actors,
    assert_no_console_errors,
    console_errors,
    cut_video,
    player_at,
    start_server,
    watch,
    write_profile,
)

EXPECTED_SEGMENTS = 2
BLOCK_LONG_WALK = """version: 1
categories:
  - name: gait
    labels: [walk]
rules:
  - name: long-walk
    category: gait
    min_prob: 0.5
    min_duration_s: 2.5
    severity: high
    action: block
"""
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def server_policy() -> str:
    """Block a video with a ``walk`` segment of 2.5 s or more: a 3 s single-shot video, never the flow's (two 1 s
    segments)."""
    return BLOCK_LONG_WALK


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
    # the <progress> bar's value reflects into its attribute: record every value the upload sets
    page.evaluate(
        """() => { window.__upload = [];
          const bar = document.querySelector('#upload-progress');
          new MutationObserver(() => window.__upload.push(bar.value)).observe(bar, {attributes: true}); }"""
    )
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"#/jobs\?job="), timeout=TIMEOUT_MS)
    job_id = page.url.split("job=")[1]
    seen["job_id"] = job_id
    seen["upload"] = page.evaluate("window.__upload")
    row = page.locator(f"tr[data-job-id='{job_id}']")
    row.wait_for(timeout=TIMEOUT_MS)
    row.locator("a.video-link").wait_for(timeout=TIMEOUT_MS)
    seen["status"] = row.locator("td.status").inner_text().strip()  # the badge alone: no error text
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
    # the upload's progress bar went up to 100 % (never down) before the jobs page opened
    assert flow["upload"][-1] == 100 and flow["upload"] == sorted(flow["upload"])
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
    # by keyboard: Tab reaches the lane bars (buttons named by label, time and probability), Enter seeks
    label = f"walk, {_fmt(later['start_s'])} to {_fmt(later['end_s'])}, probability {round(100 * later['score'])}%"
    bar = page.get_by_role("button", name=label)
    bar.focus()
    page.keyboard.press("Enter")
    player_at(page, later["start_s"])
    # sorting: the table starts sorted by start, ascending; a click on Start reverses it
    assert page.locator("th[data-sort=start]").get_attribute("aria-sort") == "ascending"
    page.locator("th[data-sort=start] button").click()
    assert page.locator("th[data-sort=start]").get_attribute("aria-sort") == "descending"
    starts = page.locator("#segments-table tbody tr").evaluate_all("rs => rs.map(r => Number(r.dataset.start))")
    assert starts == sorted((s["start_s"] for s in api), reverse=True)
    # the filter: a minimum probability above every segment's hides them all
    page.fill("#seg-min", "0.95")
    page.dispatch_event("#seg-min", "input")
    assert page.locator("#segments-count").inner_text() == f"0 of {EXPECTED_SEGMENTS} segments"
    # export links need no key in the URL: the cookie downloads them
    href = page.locator(".exports a[data-format=webvtt]").get_attribute("href")
    r = page.context.request.get(href)
    assert r.status == 200 and r.text().startswith("WEBVTT")
    assert_clean(flow)


def _fmt(seconds: float) -> str:
    """m:ss.s, as the pages write times."""
    tenths = round(seconds * 10)
    return f"{tenths // 600}:{(tenths % 600) / 10:04.1f}"


def assert_clean(flow: dict[str, Any]) -> None:
    assert flow["errors"] == [], "\n".join(flow["errors"])


def test_a_read_key_is_offered_no_upload_and_no_key_leaks(flow: dict[str, Any], server: Server, page_for: Any) -> None:
    page = page_for("read", "#/videos")
    assert page.locator("#nav a").all_inner_texts() == ["Videos", "Search"]
    page.locator("#video-list a").first.wait_for()
    succeeded = server.get("/v1/jobs?status=SUCCEEDED", scope="read")["jobs"]
    listed = page.locator("#video-list a").all_inner_texts()
    assert flow["video_id"] in listed and sorted(listed) == sorted({j["video_id"] for j in succeeded})
    page.goto(f"{server.url}/#/upload")
    page.wait_for_selector("body[data-state=ready] main p.notice")
    assert page.locator("main").inner_text().strip() == "This page needs scope write."
    # the read key opens the video page (media and thumbnails through the cookie)
    page.goto(f"{server.url}/#/videos/{flow['video_id']}?t=1.2")
    page.wait_for_selector("#segments-table tbody tr")
    player_at(page, 1.2)
    assert page.locator(".shot-strip img").count() >= 1
    page.wait_for_function("() => [...document.querySelectorAll('.shot-strip img')].every((i) => i.naturalWidth > 0)")
    # "Skip to content" by keyboard focuses the page and leaves the route alone
    url = page.url
    page.focus(".skip")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "page" and page.url == url
    assert_no_console_errors(page)
    assert console_errors(page) == []
    # the keys never went into a URL, nor into the server's log
    keys = list(server.keys.values())
    assert not [u for u in flow["urls"] if any(k in u for k in keys)]
    log = server.log_text()
    assert "/ui/session" in log  # the access log is on: the check below reads real lines
    assert not [k for k in keys if k in log or k[8:24] in log]
    assert_clean(flow)


# (track, time_s, box, person probability, top action): stored in the analysis's rows (no detector in the profile)
ACTORS = [(0, 0.5, [0.25, 0.25, 0.75, 0.75], 0.9, "walk"), (1, 1.5, [0.0, 0.5, 0.5, 1.0], 0.8, "wave")]


def _box_in_content(page: Any) -> list[float]:
    """The drawn actor box as fractions [x1, y1, x2, y2] of the video's displayed picture (object-fit: contain,
    computed here from the element's box and the video's own size)."""
    return page.evaluate(
        """() => {
          const v = document.querySelector('#player');
          const r = v.getBoundingClientRect();
          const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
          const w = v.videoWidth * s, h = v.videoHeight * s;
          const x0 = r.left + (r.width - w) / 2, y0 = r.top + (r.height - h) / 2;
          const b = document.querySelector('.actor-box').getBoundingClientRect();
          return [(b.left - x0) / w, (b.top - y0) / h, (b.right - x0) / w, (b.bottom - y0) / h];
        }"""
    )


def test_actor_boxes_follow_the_nearest_keyframe(flow: dict[str, Any], server: Server, page_for: Any) -> None:
    add_actors(server, flow["video_id"], ACTORS)
    page = page_for("read", f"#/videos/{flow['video_id']}?t=1.2")
    page.wait_for_selector("#segments-table tbody tr")
    player_at(page, 1.2)
    assert page.locator(".lane.actor").count() == 2 and page.locator(".keyframe").count() == 2
    # 1.2 s: the keyframe at 1.5 s is nearest (0.3 s away): track 1's box only
    page.wait_for_selector(".actor-box[data-track='1']")
    assert page.locator(".actor-box").count() == 1
    assert page.locator(".actor-box").inner_text() == "#1 wave 75%"
    assert _box_in_content(page) == pytest.approx(ACTORS[1][2], abs=0.03)
    # the track 0 keyframe's button seeks to 0.5 s: its box instead
    page.locator(".keyframe").first.click()
    player_at(page, 0.5)
    page.wait_for_selector(".actor-box[data-track='0']")
    assert page.locator(".actor-box").count() == 1
    assert _box_in_content(page) == pytest.approx(ACTORS[0][2], abs=0.03)
    assert_no_console_errors(page)


def test_a_blocked_video_is_withheld_from_a_read_key(
    flow: dict[str, Any], server: Server, page_for: Any, tmp_path: Path
) -> None:
    job = server.wait_job(server.submit(cut_video(tmp_path / "single.mp4", 3.0, cut_s=9.0)))
    video_id = job["video_id"]
    assert server.get(f"/v1/videos/{video_id}", "read")["moderation"]["blocked"] is True
    assert server.get(f"/v1/videos/{flow['video_id']}", "read")["moderation"]["blocked"] is False
    page = page_for("read", f"#/videos/{video_id}")
    assert page.locator("main p.notice").inner_text().startswith("Blocked by moderation (flags ")
    assert page.locator("#segments-table tbody tr").count() == 1  # the results are shown, not the pictures
    assert page.locator("#player").get_attribute("src") is None and page.locator("main img").count() == 0
    assert_no_console_errors(page)  # nothing was asked for that the key may not see
    review = page_for("review", f"#/videos/{video_id}")
    assert review.locator("main p.notice").inner_text().endswith("shown because this key may review.")
    review.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=TIMEOUT_MS)
    assert review.locator("main img").count() >= 1
    assert_no_console_errors(review)


def test_the_shared_helpers_format_and_build_urls(server: Server, page_for: Any) -> None:
    """dom.js / api.js as the pages import them (values worked out by hand)."""
    page = page_for("read", "#/videos")
    got = page.evaluate(
        """async () => {
          const dom = await import('/ui/static/dom.js');
          const api = await import('/ui/static/api.js');
          const b = dom.el('button', {class: 'x y', text: '<b>hi</b>', dataset: {segmentId: 7}, 'aria-label': 'go',
                                      title: false, hidden: true, onClick: () => { b.dataset.clicked = '1'; }},
                           'ignored because text came first?', null, ['a', 1]);
          const html = b.outerHTML;
          b.click();
          return {
            times: [0, 5, 75.25, 59.96, 3725.4, -1, NaN].map(dom.fmtTime),
            probs: [0.873, 1, 0, 0.996, null].map(dom.fmtProb),
            media: api.mediaUrl('ab/c'), thumb: api.thumbnailUrl('v1', 'shot 0.jpg'),
            html, clicked: b.dataset.clicked,
          };
        }"""
    )
    assert got["times"] == ["0:00.0", "0:05.0", "1:15.3", "1:00.0", "62:05.4", "0:00.0", "–"]
    assert got["probs"] == ["87%", "100%", "0%", "100%", "–"]
    assert got["media"] == "/v1/videos/ab%2Fc/media" and got["thumb"] == "/v1/videos/v1/thumbnails/shot%200.jpg"
    # text is text (never parsed as HTML); children follow it; false / null skipped, true present, arrays flattened
    assert got["html"] == (
        '<button class="x y" data-segment-id="7" aria-label="go" hidden="">&lt;b&gt;hi&lt;/b&gt;'
        "ignored because text came first?a1</button>"
    )
    assert got["clicked"] == "1"
    assert_no_console_errors(page)


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


def test_the_jobs_page_shows_a_failure_readably_and_cancels(
    flow: dict[str, Any], server: Server, page_for: Any, video_path: Path, tmp_path: Path
) -> None:
    # a profile whose checkpoint is missing: accepted at submission (the file exists), fails in the worker
    write_profile(server.data_dir.parent / "profiles" / "broken.yaml", tmp_path / "missing.pt")
    page = page_for("write", "#/upload")
    # this time the file is dropped on the drop zone
    page.evaluate(
        """([name, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], name, {type: 'video/mp4'}));
          const drop = new DragEvent('drop', {dataTransfer: data, bubbles: true});
          document.querySelector('#upload-drop').dispatchEvent(drop);
        }""",
        ["dropped.mp4", base64.b64encode(video_path.read_bytes()).decode()],
    )
    assert page.locator(".chosen").inner_text() == f"dropped.mp4 ({video_path.stat().st_size / 1024:.1f} KiB)"
    page.select_option("#upload-profile", "broken")  # listed by GET /v1/profiles (as not usable: no checkpoint)
    page.uncheck("input[data-feature=actors]")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"#/jobs\?job="), timeout=TIMEOUT_MS)
    failed_id = page.url.split("job=")[1]
    row = page.locator(f"tr[data-job-id='{failed_id}']")
    row.locator(".job-error").wait_for(timeout=TIMEOUT_MS)
    job = server.get(f"/v1/jobs/{failed_id}")
    assert (job["status"], job["profile"], job["features"]) == ("FAILED", "broken", ["shots", "labels", "segments"])
    assert row.locator(".badge").inner_text() == "failed" and row.locator(".job-error").inner_text() == job["error"]
    assert row.locator("button").count() == 0  # nothing to cancel
    assert_no_console_errors(page)


def test_queued_and_running_jobs_are_canceled_from_the_page(
    browser: Any, video_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On a server without workers every job stays queued: both are canceled from the jobs page (the second job
    appears through the page's event stream, its ``created`` event)."""
    server = start_server(tmp_path_factory.mktemp("idle"), workers=0)
    context = browser.new_context(base_url=server.url)
    try:
        assert context.request.post("/ui/session", data={"key": server.keys["write"]}).status == 200
        page = context.new_page()
        errors = watch(page)
        first = server.submit(video_path)
        page.goto(f"{server.url}/#/jobs")
        page.locator(f"tr[data-job-id='{first}'] .badge", has_text="queued").wait_for(timeout=TIMEOUT_MS)
        second = server.submit(cut_video(tmp_path_factory.mktemp("v2") / "other.mp4", 1.0))
        for job_id in (second, first):  # the second appears at the next poll
            row = page.locator(f"tr[data-job-id='{job_id}']")
            row.get_by_role("button", name=f"Cancel job {job_id[:8]}").click(timeout=TIMEOUT_MS)
            row.locator(".badge", has_text="canceled").wait_for(timeout=TIMEOUT_MS)
            assert server.get(f"/v1/jobs/{job_id}")["status"] == "CANCELED"
            assert row.get_by_role("button").count() == 0
        assert errors == [], "\n".join(errors)
    finally:
        context.close()
        server.stop()
