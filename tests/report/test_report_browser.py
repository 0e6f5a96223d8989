"""report.html in a real headless Chromium (Debian's package, driven by Playwright).

The sample video is a real H.264 mp4 (Debian's Chromium plays H.264), so seeking is a real seek of a
decoded video. Every page refuses non-file requests and records console errors (reportkit.open_report).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError as exc:  # CI must run these tests: fail with what to install, never skip
    raise ImportError(
        "the report tests need Playwright for Python ('pip install playwright'); the browser is Debian's chromium "
        "('apt-get install -y chromium'), so never 'playwright install'"
    ) from exc
from reportkit import (
    ACTORS,
    HOSTILE,
    SEGMENTS,
    WARNING,
    Analysis,
    OpenedReport,
    make_analysis,
    make_bare_analysis,
    open_report,
    wait_for_seek,
)

from vidstruct.structure.report import write_report

pytestmark = pytest.mark.xdist_group("report_chromium")  # one browser launch for all of them


@pytest.fixture
def opened(browser: Any, analysis: Analysis) -> Iterator[OpenedReport]:
    report = open_report(browser, analysis.folder / "report.html")
    yield report
    report.page.context.close()


def _clean(report: OpenedReport) -> None:
    assert report.errors == []
    assert report.blocked == []
    assert all(url.startswith("file:") for url in report.requests), report.requests


def test_page_loads_without_errors_or_network(opened: OpenedReport, analysis: Analysis) -> None:
    page = opened.page
    assert page.title() == "vidstruct report: clip"
    # the whole page was drawn: the last section (warnings) holds the document's warning
    assert page.locator("#warnings li").all_text_contents() == [WARNING]
    # what the page asked for: itself and the video, nothing else (thumbnails are data: URIs)
    assert sorted(set(opened.requests)) == sorted({(analysis.folder / "report.html").as_uri(), analysis.video.as_uri()})
    _clean(opened)


def test_the_video_plays_in_the_player(opened: OpenedReport) -> None:
    state = opened.page.evaluate(
        "(() => { const v = document.getElementById('player');"
        " return {duration: v.duration, width: v.videoWidth, height: v.videoHeight, error: v.error}; })()"
    )
    assert state == {"duration": pytest.approx(4.0, abs=0.05), "width": 128, "height": 96, "error": None}
    assert opened.page.locator("#video-error").is_hidden()


def test_lanes_show_each_segment_under_its_label(opened: OpenedReport) -> None:
    lanes = opened.page.evaluate(
        "Array.from(document.querySelectorAll('.lane.segments'))"
        ".map(l => [l.dataset.label, l.querySelector('.lane-label').textContent, l.querySelectorAll('.box').length])"
    )
    expected = Counter(label for label, *_ in SEGMENTS)
    assert lanes == [[label, label, expected[label]] for label in sorted(expected)]
    assert opened.page.locator(".lane.shots .box").count() == 3


def test_boxes_sit_at_their_times(opened: OpenedReport, analysis: Analysis) -> None:
    """Each segment box spans its [start, end] over the track: left and width in pixels of the track."""
    geometry = opened.page.evaluate(
        "Array.from(document.querySelectorAll('.box.segment')).map(b => {"
        " const t = b.parentElement.getBoundingClientRect(), r = b.getBoundingClientRect();"
        " return [Number(b.dataset.index), (r.left - t.left) / t.width, r.width / t.width]; })"
    )
    assert len(geometry) == len(SEGMENTS)
    for index, left, width in geometry:
        seg = analysis.document["segments"][index]
        assert left == pytest.approx(seg["start_s"] / 4.0, abs=0.005)
        assert width == pytest.approx((seg["end_s"] - seg["start_s"]) / 4.0, abs=0.005)


def test_hover_shows_label_and_probability(opened: OpenedReport) -> None:
    title = opened.page.locator(".box.segment[data-index='3']").get_attribute("title")
    assert title.splitlines()[:3] == ["jump", "probability 0.840", "0:02.900 – 0:03.500"]
    shot = opened.page.locator(".lane.shots .box").nth(1).get_attribute("title")
    assert "cut probability 0.930" in shot


@pytest.mark.parametrize("index", [2, 3])
def test_clicking_a_segment_seeks_the_video(opened: OpenedReport, index: int) -> None:
    start = SEGMENTS[index][1]
    page = opened.page
    page.locator(f".box.segment[data-index='{index}']").click()
    wait_for_seek(page, start)
    expect(page.locator("#clock")).to_have_text(f"0:0{start:.3f} / 0:04.000")
    # the segment under the playhead is highlighted in its lane and in the table
    expect(page.locator(".box.segment.active")).to_have_attribute("data-index", str(index))
    expect(page.locator("#segments tbody tr.active")).to_have_attribute("data-index", str(index))
    _clean(opened)


def test_clicking_a_shot_a_thumbnail_a_row_and_a_keyframe_seeks(opened: OpenedReport) -> None:
    page = opened.page
    page.locator(".lane.shots .box").nth(2).click()
    wait_for_seek(page, 2.8)
    page.locator("#shot-gallery figure").nth(1).click()
    wait_for_seek(page, 1.5)
    page.locator("#segments tbody tr[data-index='1']").click()
    wait_for_seek(page, 0.5)
    page.locator(".lane.actor-track[data-track='1'] .keyframe").click()
    wait_for_seek(page, 2.0)
    # at a keyframe the actors' boxes are drawn over the player: two tracks at 2.0 s
    expect(page.locator("#overlay .actor-box")).to_have_text(["#0 walk 0.700", "#1 stand 0.600"])


def test_actor_lanes_hold_one_marker_per_keyframe(opened: OpenedReport) -> None:
    tracks = opened.page.evaluate(
        "Array.from(document.querySelectorAll('.lane.actor-track'))"
        ".map(l => [Number(l.dataset.track), l.querySelectorAll('.keyframe').length])"
    )
    assert tracks == [[track, count] for track, count in sorted(Counter(a[0] for a in ACTORS).items())]
    assert tracks == [[0, 3], [1, 1]]


def _column(page: Any, name: str) -> list[str]:
    return page.locator(f"#segments tbody td.{name}").all_text_contents()


def test_table_sorts_by_time_label_and_score(opened: OpenedReport) -> None:
    page = opened.page
    header = {key: page.locator(f"#segments th[data-sort='{key}'] button") for key in ("start", "label", "score")}
    by_time = sorted(SEGMENTS, key=lambda s: s[1])
    assert _column(page, "start") == [f"0:0{s[1]:.3f}" for s in by_time]

    header["score"].click()  # highest probability first
    assert _column(page, "score") == [f"{s[3]:.3f}" for s in sorted(SEGMENTS, key=lambda s: -s[3])]
    assert page.locator("#segments th[data-sort='score']").get_attribute("aria-sort") == "descending"
    header["score"].click()
    assert _column(page, "score") == [f"{s[3]:.3f}" for s in sorted(SEGMENTS, key=lambda s: s[3])]

    header["label"].click()  # alphabetical, ties by start time
    assert _column(page, "label") == [s[0] for s in sorted(SEGMENTS, key=lambda s: (s[0], s[1]))]
    assert page.locator("#segments th[data-sort='score']").get_attribute("aria-sort") is None
    header["label"].click()
    assert _column(page, "label") == ["wave", "walk", "walk", "walk", "jump"]

    header["start"].click()
    assert _column(page, "start") == [f"0:0{s[1]:.3f}" for s in by_time]
    header["start"].click()
    assert _column(page, "start") == [f"0:0{s[1]:.3f}" for s in reversed(by_time)]


def test_thumbnails_are_shown(opened: OpenedReport) -> None:
    images = opened.page.evaluate(
        "Array.from(document.querySelectorAll('#shot-gallery img, #segments img'))"
        ".map(i => [i.closest('section').id, i.src.slice(0, 23), i.complete && i.naturalWidth])"
    )
    jpeg = "data:image/jpeg;base64,"
    assert images == [["segments-section", jpeg, 64]] * 2 + [["shots-section", jpeg, 64]] * 3


def test_models_video_metadata_and_timings_are_listed(opened: OpenedReport) -> None:
    page = opened.page
    assert page.locator("#models tbody tr").evaluate_all("rs => rs.map(r => r.dataset.model)") == [
        "shots",
        "recognizer",
        "localizer",
        "actors",
    ]
    meta = dict(
        zip(page.locator("#video-meta th").all_text_contents(), page.locator("#video-meta td").all_text_contents())
    )
    assert meta["codec"] == "h264" and meta["width"] == "128" and meta["fps"] == "10"
    assert page.locator("#timings td").all_text_contents() == ["0.400 s", "0.100 s", "1.200 s"]


def test_hostile_text_is_shown_not_run(browser: Any, tmp_path: Path) -> None:
    """A label, a model name and a warning that are HTML with script appear as text; nothing runs or loads."""
    analysis = make_analysis(tmp_path, hostile=True)
    report = open_report(browser, write_report(analysis.structure))
    page = report.page
    try:
        assert page.evaluate("window.__pwned") is None
        lane = page.evaluate(
            "Array.from(document.querySelectorAll('.lane.segments .lane-label')).map(l => l.textContent)"
        )
        assert HOSTILE in lane
        assert HOSTILE in page.locator("#segments tbody td.label").all_text_contents()
        assert HOSTILE in page.locator("#warnings li").all_text_contents()
        assert page.locator("#models tbody tr[data-model='recognizer'] td").nth(1).text_content() == HOSTILE
        assert page.locator(".box.segment[data-index='1']").get_attribute("title").startswith(HOSTILE + "\n")
        # none of its markup became elements
        injected = "main script, main img:not([src^='data:']), #lanes img, #warnings img, #models img, header img"
        assert page.locator(injected).count() == 0
        _clean(report)
    finally:
        page.context.close()


def test_an_injected_script_is_refused_by_the_page_policy(browser: Any, analysis: Analysis, tmp_path: Path) -> None:
    """The page's Content-Security-Policy lets only its own script run (by hash): a script added to the file
    afterwards is refused, so even a broken escape could not run code."""
    page_text = (analysis.folder / "report.html").read_text(encoding="utf-8")
    tampered = analysis.folder / "tampered.html"
    tampered.write_text(page_text.replace("</body>", "<script>window.__pwned = 3</script></body>"), encoding="utf-8")
    report = open_report(browser, tampered)
    try:
        assert report.page.evaluate("window.__pwned") is None
        assert any("Content Security Policy" in e for e in report.errors), report.errors
        # the page's own script still ran
        assert report.page.locator(".box.segment").count() == len(SEGMENTS)
    finally:
        report.page.context.close()
        tampered.unlink()


def test_a_document_with_only_shots_and_no_duration(browser: Any, tmp_path: Path) -> None:
    """What analyze writes without models: one shot, no segments / actors / thumbnails, duration unknown (the
    timeline spans the last shot's end)."""
    analysis = make_bare_analysis(tmp_path)
    report = open_report(browser, write_report(analysis.structure))
    page = report.page
    try:
        assert page.locator(".lane.segments").count() == 0
        assert page.locator("#lanes .empty").text_content() == "no segments"
        assert page.locator("#segments tbody tr").count() == 0
        assert page.locator(".lane.actor-track").count() == 0
        assert page.locator("#shot-gallery .noimg").all_text_contents() == ["no thumbnail"]
        width = page.evaluate(
            "(() => { const b = document.querySelector('.lane.shots .box');"
            " return b.getBoundingClientRect().width / b.parentElement.getBoundingClientRect().width; })()"
        )
        assert width == pytest.approx(1.0, abs=0.005)
        assert page.locator("#warnings li").all_text_contents() == ["none"]
        _clean(report)
    finally:
        page.context.close()
