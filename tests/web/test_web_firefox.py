"""The web pages in Debian's headless ``firefox-esr`` (driven over WebDriver BiDi by :mod:`bidi`) against a real
``vidstruct serve`` (the fixtures of conftest / webkit: one worker, SQLite, the tiny constant-backbone profile,
:data:`webkit.WALK_FLAG_POLICY`): sign in by typing the key into the form, Upload (the file chosen as the picker
would), Jobs until the job succeeds, the Video page (a click on a segment seeks the player), Search (a label
search), then sign out and in again with a review key for Videos and Moderation (a segment plays in place, a
decision with a note). No page logs a console error, throws, breaks the Content-Security-Policy or gets an HTTP
error; a last test shows each of those would be reported, and that nothing but 127.0.0.1 is reachable.

Expected values, from how the video, profile and policy are built: one hard cut at 1.0 s in a 2 s video makes two
shots, the constant classifier puts ``walk`` on top everywhere (probability CONSTANT_PROB > 0.5), so one ``walk``
segment per shot (2), and the policy flags each (2 open flags). The pages are also checked against the API's own
answers (asked without the browser).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bidi import BidiError, Firefox
from webkit import CONSTANT_PROB, WALK_FLAG_POLICY, Server, add_actors

# one worker runs them in order: one server, one browser, one signed-in tab through every page
pytestmark = pytest.mark.xdist_group("web_firefox")
EXPECTED_SEGMENTS = 2
JOB_TIMEOUT_S = 90.0
ENTER = "\ue007"
NOTE = "not a violation — checked in Firefox"
# actor keyframes stored in the analysis (the tiny profile has no detector): (track, time_s, box, person p, action)
ACTORS = [(0, 0.5, [0.25, 0.25, 0.75, 0.75], 0.9, "walk"), (1, 1.5, [0.0, 0.5, 0.5, 1.0], 0.8, "wave")]
FEATURES = [("shots", True), ("labels", True), ("segments", True), ("actors", True), ("moderation", False)]


@pytest.fixture(scope="module")
def server_policy() -> str:
    return WALK_FLAG_POLICY


@pytest.fixture(scope="module")
def firefox() -> Iterator[Firefox]:
    with Firefox() as browser:
        yield browser


def page_ready(ff: Firefox, hash_pattern: str, selector: str) -> None:
    """Wait until the location's hash matches ``hash_pattern`` (a regex), the app says the page rendered
    (``body[data-state=ready]``) and ``selector`` exists."""
    ff.wait_for(
        """(re, sel) => new RegExp(re).test(location.hash) && document.body.dataset.state === "ready"
                        && document.querySelector(sel) !== null""",
        hash_pattern,
        selector,
        what=f"page {hash_pattern} with {selector}",
    )


def texts(ff: Firefox, selector: str) -> list[str]:
    return ff.js("(sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim())", selector)


def assert_no_errors(ff: Firefox) -> None:
    ff.drain()
    assert ff.errors == [], "\n".join(ff.errors)
    assert ff.http_errors == [], "\n".join(ff.http_errors)


def sign_in(ff: Firefox, key: str, home: str) -> None:
    """Type ``key`` into the sign-in form and press Enter; the app moves to ``home`` (a hash regex)."""
    page_ready(ff, r"^#/signin", "#signin-key")
    ff.click("#signin-key")
    ff.type(key + ENTER)
    page_ready(ff, home, "#nav a")


@pytest.fixture(scope="module")
def flow(firefox: Firefox, server: Server, video_path: Path) -> dict[str, Any]:
    """Sign in with the write key, upload through the Upload page, wait on the Jobs page until the job's video
    link shows; what the pages showed on the way."""
    ff, seen = firefox, {}
    ff.navigate(f"{server.url}/")
    sign_in(ff, server.keys["write"], r"^#/jobs$")
    seen["nav"] = texts(ff, "#nav a")

    ff.click("#nav a[data-page=upload]")
    page_ready(ff, r"^#/upload$", "#upload-file")
    seen["features"] = ff.js(
        "() => [...document.querySelectorAll('input[data-feature]')].map((i) => [i.value, i.checked])"
    )
    seen["submit_disabled"] = ff.js("() => document.querySelector('form button[type=submit]').disabled")
    ff.set_files("#upload-file", video_path)
    ff.wait_for("() => document.querySelector('.chosen')?.textContent.startsWith('cut.mp4')", what="file chosen")
    seen["chosen"] = ff.js("() => document.querySelector('.chosen').textContent")
    ff.js(
        """() => { window.__upload = [];
          const bar = document.querySelector('#upload-progress');
          new MutationObserver(() => window.__upload.push(bar.value)).observe(bar, {attributes: true}); }"""
    )
    ff.click("form button[type=submit]")
    page_ready(ff, r"^#/jobs\?job=", "#jobs-table")
    job_id = ff.js("() => location.hash.split('job=')[1]")
    seen["job_id"] = job_id
    row = f"tr[data-job-id='{job_id}']"
    ff.wait_for("(sel) => document.querySelector(sel)", f"{row} a.video-link", timeout_s=JOB_TIMEOUT_S, what="job ends")
    seen["job"] = server.get(f"/v1/jobs/{job_id}")
    seen["jobs_api"] = server.get("/v1/jobs", params={"max_results": 100})["jobs"]
    seen["row"] = ff.js(
        """(row) => { const tr = document.querySelector(row);
          return {badge: tr.querySelector('td.status').textContent.trim(),
                  stages: Object.fromEntries([...tr.querySelectorAll('.stage')].map(
                    (s) => [s.dataset.stage, s.querySelector('.stage-pct').textContent])),
                  highlighted: tr.classList.contains('highlight'),
                  rows: document.querySelectorAll('#jobs-table tbody tr').length}; }""",
        row,
    )
    seen["upload"] = ff.js("() => window.__upload")
    seen["video_id"] = seen["job"]["video_id"]
    return seen


def test_sign_in_upload_and_jobs_in_firefox(firefox: Firefox, flow: dict[str, Any], video_path: Path) -> None:
    assert flow["nav"] == ["Upload", "Jobs", "Videos", "Search"]  # a write key: no Moderation
    assert flow["features"] == [[name, on] for name, on in FEATURES] and flow["submit_disabled"] is True
    assert flow["chosen"] == f"cut.mp4 ({video_path.stat().st_size / 1024:.1f} KiB)"
    assert flow["upload"] and flow["upload"][-1] == 100 and flow["upload"] == sorted(flow["upload"])
    job = flow["job"]
    assert (job["status"], job["profile"], job["features"]) == ("SUCCEEDED", "tiny", [n for n, on in FEATURES if on])
    row = flow["row"]
    assert row["badge"] == "succeeded" and row["highlighted"] and row["rows"] == len(flow["jobs_api"]) == 1
    assert job["progress"] and row["stages"] == {stage: f"{round(pct)}%" for stage, pct in job["progress"].items()}
    assert_no_errors(firefox)


def test_video_page_in_firefox(firefox: Firefox, flow: dict[str, Any], server: Server) -> None:
    ff, video_id = firefox, flow["video_id"]
    api = server.get(f"/v1/videos/{video_id}/segments", scope="read")["segments"]
    shots = server.get(f"/v1/videos/{video_id}/shots", scope="read")["shots"]
    assert len(api) == EXPECTED_SEGMENTS and {s["label"] for s in api} == {"walk"} and len(shots) == 2
    assert all(abs(s["score"] - CONSTANT_PROB) < 1e-4 for s in api)

    duration = server.get(f"/v1/videos/{video_id}", scope="read")["duration_s"]
    add_actors(server, video_id, ACTORS)

    ff.click(f"tr[data-job-id='{flow['job_id']}'] a.video-link")
    page_ready(ff, rf"^#/videos/{video_id}$", "#segments-table tbody tr")
    shown = ff.js(
        """() => ({rows: document.querySelectorAll('#segments-table tbody tr.segment-row').length,
                   count: document.querySelector('#segments-count').textContent,
                   lanes: document.querySelectorAll('.lane.label').length,
                   bars: document.querySelectorAll('.lane.label .bar.segment').length,
                   opacity: Number(getComputedStyle(document.querySelector('.lane.label .bar.segment')).opacity),
                   shotBars: document.querySelectorAll('.lane.shots .bar').length,
                   shotThumbs: document.querySelectorAll('.shot-strip .shot-thumb').length,
                   notices: [...document.querySelectorAll('main .notice')].map((n) => n.textContent)})"""
    )
    assert shown["rows"] == shown["bars"] == EXPECTED_SEGMENTS and shown["lanes"] == 1
    assert shown["count"] == f"{EXPECTED_SEGMENTS} of {EXPECTED_SEGMENTS} segments"
    assert abs(shown["opacity"] - CONSTANT_PROB) < 0.01
    assert shown["shotBars"] == shown["shotThumbs"] == len(shots)
    assert shown["notices"] == []  # no "could not be played in this browser"
    # Firefox reads the H.264 file's metadata (64 px wide; the player preloads metadata only), no media error
    media = ff.wait_for(
        """() => { const v = document.querySelector('#player');
          return v.readyState >= 1 && {width: v.videoWidth, error: v.error && v.error.message}; }""",
        what="the player has its metadata",
    )
    assert media == {"width": 64, "error": None}
    # a click on the later segment's row seeks to its start; a click on the earlier one's lane bar back
    later, first = max(api, key=lambda s: s["start_s"]), min(api, key=lambda s: s["start_s"])
    assert later["start_s"] > 0.5
    for selector, target in (
        (f"tr[data-segment-id='{later['segment_id']}']", later["start_s"]),
        (f".bar.segment[data-segment-id='{first['segment_id']}']", first["start_s"]),
    ):
        ff.click(selector)
        ff.wait_for(
            "(t) => Math.abs(document.querySelector('#player').currentTime - t) < 0.05",
            target,
            what=f"player at {target} s after clicking {selector}",
        )
    # after a seek the frame there is decoded (HAVE_CURRENT_DATA or more), still no media error
    ff.wait_for(
        "() => { const v = document.querySelector('#player'); return v.readyState >= 2 && v.error === null; }",
        what="the player decoded a frame",
    )
    # by keyboard: a lane bar is a button, Enter on it seeks
    ff.js("(sel) => document.querySelector(sel).focus()", f".bar.segment[data-segment-id='{later['segment_id']}']")
    ff.type(ENTER)
    ff.wait_for("(t) => Math.abs(document.querySelector('#player').currentTime - t) < 0.05", later["start_s"])
    # the lanes' layout: each bar spans [start, end] / duration of its track (percentages in Firefox's layout)
    spans = ff.js(
        """() => [...document.querySelectorAll('.lane.label .bar.segment')].map((b) => {
             const t = b.parentElement.getBoundingClientRect(), r = b.getBoundingClientRect();
             return [Number(b.dataset.segmentId), (r.left - t.left) / t.width, (r.right - t.left) / t.width]; })"""
    )
    expected = {s["segment_id"]: (s["start_s"] / duration, s["end_s"] / duration) for s in api}
    assert {i: pytest.approx((a, b), abs=0.01) for i, a, b in spans} == expected
    # actor boxes over the picture: the keyframe button of track 1 (1.5 s) seeks; its box is drawn where it says
    assert ff.js("() => document.querySelectorAll('.lane.actor .keyframe').length") == len(ACTORS)
    ff.click(".keyframe[aria-label^='actor 1 at']")
    ff.wait_for("() => document.querySelector(\".actor-box[data-track='1']\")", what="track 1's box")
    assert texts(ff, ".actor-box") == ["#1 wave 75%"]
    assert ff.js("() => document.querySelector('#player').currentTime") == pytest.approx(ACTORS[1][1], abs=0.05)
    assert box_in_picture(ff) == pytest.approx(ACTORS[1][2], abs=0.03)
    # the segment thumbnails and shot pictures decode
    ff.wait_for("() => [...document.querySelectorAll('main img')].every((i) => i.complete)", what="images loaded")
    widths = ff.js("() => [...document.querySelectorAll('.shot-strip img')].map((i) => i.naturalWidth)")
    assert len(widths) == len(shots) and all(w > 0 for w in widths)
    assert_no_errors(ff)


def box_in_picture(ff: Firefox) -> list[float]:
    """The drawn actor box as fractions [x1, y1, x2, y2] of the player's displayed picture (object-fit: contain,
    computed from the element's box and the video's own size)."""
    return ff.js(
        """() => { const v = document.querySelector('#player'), r = v.getBoundingClientRect();
          const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
          const w = v.videoWidth * s, h = v.videoHeight * s;
          const x0 = r.left + (r.width - w) / 2, y0 = r.top + (r.height - h) / 2;
          const b = document.querySelector('.actor-box').getBoundingClientRect();
          return [(b.left - x0) / w, (b.top - y0) / h, (b.right - x0) / w, (b.bottom - y0) / h]; }"""
    )


def test_search_page_in_firefox(firefox: Firefox, flow: dict[str, Any], server: Server) -> None:
    ff, video_id = firefox, flow["video_id"]
    hits = server.get("/v1/search", "read", params={"label": "walk", "sort": "score"})["hits"]
    assert len(hits) == EXPECTED_SEGMENTS and {h["video_id"] for h in hits} == {video_id}

    ff.click("#nav a[data-page=search]")
    page_ready(ff, r"^#/search$", "#search-label")
    ff.click("#search-label")
    ff.type("walk" + ENTER)
    ff.wait_for(
        "(text) => document.querySelector('.search-count')?.textContent === text",
        f"{len(hits)} segments",
        what="the search's count",
    )
    assert re.search(r"label=walk", ff.js("() => location.hash"))
    cards = ff.js(
        """() => [...document.querySelectorAll('.search-cards .card')].map((c) => ({
             video: c.dataset.videoId, segment: Number(c.dataset.segmentId),
             title: c.querySelector('.card-title').textContent,
             href: c.querySelector('a.card-link').getAttribute('href')}))"""
    )
    assert [c["segment"] for c in cards] == [h["segment_id"] for h in hits]
    assert all(c["video"] == video_id and c["title"] == "walk" for c in cards)
    assert [c["href"] for c in cards] == [f"#/videos/{video_id}?t={h['start_s']:g}" for h in hits]
    ff.wait_for("() => [...document.querySelectorAll('.search-cards img')].every((i) => i.complete)", what="thumbnails")
    widths = ff.js("() => [...document.querySelectorAll('.search-cards img')].map((i) => i.naturalWidth)")
    assert len(widths) == len(hits) and all(w > 0 for w in widths)
    assert_no_errors(ff)


def test_moderation_page_in_firefox(firefox: Firefox, flow: dict[str, Any], server: Server) -> None:
    ff, video_id = firefox, flow["video_id"]
    flags = server.get("/v1/moderation/flags", "review")["flags"]
    segments = server.get(f"/v1/videos/{video_id}/segments", scope="read")["segments"]
    # the policy flags every walk segment, one flag each
    assert sorted((f["evidence"]["start_s"], f["evidence"]["label"]) for f in flags) == sorted(
        (s["start_s"], "walk") for s in segments
    )

    ff.click("#sign-out")
    page_ready(ff, r"^#/signin$", "#signin-key")
    assert texts(ff, "#nav a") == []
    sign_in(ff, server.keys["review"], r"^#/videos$")
    assert texts(ff, "#nav a") == ["Videos", "Search", "Moderation"]
    page_ready(ff, r"^#/videos$", "#video-list a")
    assert texts(ff, "#video-list a") == [video_id]  # the videos of succeeded jobs
    ff.click("#nav a[data-page=moderation]")
    page_ready(ff, r"^#/moderation$", ".mod-count")
    ff.wait_for(
        "(text) => document.querySelector('.mod-count')?.textContent === text",
        f"{len(flags)} open flags",
        what="the open flags' count",
    )
    cards = ff.js(
        """() => [...document.querySelectorAll('.mod-flags li.flag')].map((c) => ({
             id: c.dataset.flagId, video: c.dataset.videoId, title: c.querySelector('.flag-title').textContent,
             forms: c.querySelectorAll('form.review-form').length}))"""
    )
    assert [c["id"] for c in cards] == [f["flag_id"] for f in flags]
    assert all(c["video"] == video_id and c["forms"] == 1 for c in cards)
    assert [c["title"] for c in cards] == ["walk · low · walk-flag"] * len(flags)
    # the flagged segment plays in place: the player seeks to its start and pauses at its end
    flag = max(flags, key=lambda f: f["evidence"]["start_s"])
    card = f"li.flag[data-flag-id='{flag['flag_id']}']"
    ff.click(f"{card} button.flag-play")
    end = ff.wait_for(
        """(sel, end) => { const v = document.querySelector(sel);
          return v.paused && v.currentTime >= end - 0.25 && v.currentTime; }""",
        f"{card} video.flag-video",
        flag["evidence"]["end_s"],
        timeout_s=45,
        what="the flag's segment played to its end",
    )
    assert end <= flag["evidence"]["end_s"] + 0.25
    # a decision with a typed note (POST with the session's CSRF token): it leaves the open list, its audit row
    # says who, what and the note, as the API does
    ff.click(f"{card} textarea")
    ff.type(NOTE)
    ff.click(f"{card} button.review-dismiss")
    ff.wait_for(
        "(text) => document.querySelector('.mod-count')?.textContent.startsWith(text)",
        f"{len(flags) - 1} open flag",
        what="one flag fewer",
    )
    stored = server.get(f"/v1/moderation/flags/{flag['flag_id']}", "review")
    assert stored["decision"] == "dismiss" and stored["status"] != "open"
    assert [(e["who"], e["note"]) for e in stored["reviews"]] == [(f"key:{server.key_ids['review']}", NOTE)]
    done = f".mod-done-list li[data-flag-id='{flag['flag_id']}']"
    assert ff.js("(sel) => document.querySelector(sel).dataset.status", done) == stored["status"]
    assert texts(ff, f"{done} .audit-table tbody td")[2:] == ["dismiss", NOTE, stored["status"]]
    assert ff.js("(sel) => document.querySelectorAll(sel).length", f".mod-flags:not(.mod-done-list) {card}") == 0
    assert_no_errors(ff)


def test_the_client_reports_what_it_must(firefox: Firefox, server: Server) -> None:
    """The checks above can fail: in the app's own page (its Content-Security-Policy), a console.error, an uncaught
    exception, a style attribute the CSP blocks and a 404 are each reported; a host other than 127.0.0.1 is not
    reachable (the profile's proxy refuses it)."""
    ff = firefox
    ff.navigate(f"{server.url}/")
    errors, http_errors = len(ff.errors), len(ff.http_errors)
    ff.js(
        """() => { console.error('probe: console'); setTimeout(() => { throw new Error('probe: thrown'); });
          document.body.setAttribute('style', 'color: red');
          return fetch('/v1/probe-missing').then((r) => r.status); }"""
    )
    ff.wait_for("() => new Promise((ok) => setTimeout(() => ok(true), 200))")
    ff.drain()
    new = ff.errors[errors:]
    assert len(new) == 3, new
    assert new[0].startswith("console: probe: console") and "probe: thrown" in new[1]
    assert "Content-Security-Policy" in new[2] and "style-src" in new[2]
    assert ff.http_errors[http_errors:] == [f"HTTP 404: {server.url}/v1/probe-missing"]
    with pytest.raises(BidiError, match="PROXY_CONNECTION_REFUSED"):
        ff.navigate("http://example.com/")
    del ff.errors[errors:], ff.http_errors[http_errors:]  # the probes' own
