"""The Search and Moderation pages in a real headless Chromium against a real ``vidstruct serve`` (W1's fixtures):
search by label and by a temporal query, a similar-moment search from a segment, a moderation review that lands in
the audit trail, a read key that is not offered Moderation; no page logs a console error.

The collection, built through the API: three 2 s, 10 fps, 64 px videos analysed with a "colour" profile whose
backbone is calibrated here (:func:`save_colour_backbone`) so that a dark blue picture is ``walk`` and a light
orange one ``run`` (both with probability > 0.99):

====  ==========================  ==============================================================
name  picture                     what the pages must find (by construction)
====  ==========================  ==============================================================
A     blue 0-1 s, orange 1-2 s    walk, then run at the cut (the content shot detector splits there)
A2    the same, other noise       a near copy of A: the nearest moment of another video to A's walk
B     orange 0-2 s                run only: never in a walk search, never in "walk then run"
====  ==========================  ==============================================================

The moderation policy flags every ``run`` segment (action ``flag``, so nothing is blocked). Expected answers are
those facts; the pages are also checked against the API's own answers (asked without the page).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from webkit import CLASSES, Server, assert_no_console_errors, player_at

from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint
from vidstruct.models.spec import InputSpec

TIMEOUT_MS = 30_000
BLUE, ORANGE = (20, 30, 120), (230, 160, 60)  # RGB of the pictures; CLASSES[0] = walk, CLASSES[1] = run
WALK, RUN = CLASSES[0], CLASSES[1]
_SPEC = InputSpec(num_frames=4, frame_interval=2, crop_size=48, short_side=56, target_fps=10.0)
POLICY = f"""version: 1
rules:
  - {{name: running, labels: [{RUN}], min_prob: 0.5, severity: medium, action: flag}}
"""
NOTE = "checked by the web test: a false alarm? no, confirmed"


def save_colour_backbone(path: Path) -> Path:
    """A tiny ``r2plus1d_tiny`` whose classifier reads the picture's colour: the pooled features ``f`` (dim 8) of a
    blue clip and an orange clip (``[1, 3, 4, 48, 48]``, normalized as the checkpoint's spec says) are computed
    here; the logits are ``±k·d·(f - m)`` for walk / run (``d`` their difference, ``m`` their middle, ``k`` so that
    the two clips get logits ±6) and -4 for the other classes."""
    torch.manual_seed(0)
    kwargs = {"widths": [4, 4, 4, 8]}
    model = MODELS.build("r2plus1d_tiny", num_classes=len(CLASSES), **kwargs).eval()
    model.input_spec = _SPEC

    def features(rgb: tuple[int, int, int]) -> torch.Tensor:
        frames = np.empty((4, 48, 48, 3), np.float32)  # [T, H, W, C] in [0, 1]
        frames[:] = np.asarray(rgb, np.float32) / 255
        frames[:, 18:30, 18:30] = 128 / 255  # the grey square
        clip = torch.from_numpy((frames - np.float32(0.45)) / np.float32(0.225)).permute(3, 0, 1, 2)[None]
        with torch.no_grad():
            return model.forward_features(clip)[0]

    blue, orange = features(BLUE), features(ORANGE)
    d, m = orange - blue, (orange + blue) / 2
    k = 12.0 / float(d @ d)
    with torch.no_grad():
        fc = model.head.fc
        fc.weight.zero_()
        fc.bias.fill_(-4.0)
        fc.weight[0], fc.bias[0] = -k * d, k * float(d @ m)
        fc.weight[1], fc.bias[1] = k * d, -k * float(d @ m)
        assert fc(blue).argmax() == 0 and fc(orange).argmax() == 1
    return save_model_checkpoint(path, model, model_name="r2plus1d_tiny", model_kwargs=kwargs, classes=CLASSES)


def colour_video(path: Path, colours: list[tuple[int, int, int]], *, seed: int, seconds: float = 2.0) -> Path:
    """H.264, 64 px, 10 fps: ``colours`` in equal parts of the time (hard cuts between), a grey square moving left
    to right, noise from ``seed`` (so two videos of the same colours differ in bytes)."""
    fps, size = 10.0, 64
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    frames = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        frames[i] = colours[i * len(colours) // n]
        x = int(i * (size - 16) / (n - 1))
        frames[i, 24:40, x : x + 16] = 128
    noisy = frames.astype(np.int16) + rng.integers(-6, 7, frames.shape)
    return write_video(path, np.clip(noisy, 0, 255).astype(np.uint8), fps)


@pytest.fixture(scope="module")
def server_policy() -> str:
    return POLICY


@pytest.fixture(scope="module")
def collection(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Videos A, A2, B analysed with the colour profile (written to DATA/profiles, looked up first); name → id."""
    profiles = server.data_dir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    backbone = save_colour_backbone(profiles / "colour.pt")
    (profiles / "colour.yaml").write_text(
        "task: analyze\nname: colour\n"
        f"recognizer: {{checkpoint: {backbone.name}, window_s: 1.0, stride_s: 0.5, top_k: 2}}\n"
        "shots: {detector: content, options: {frame_size: [32, 18]}}\n"
        "thumbnails: {width: 48}\nruntime: {device: cpu}\n"
    )
    folder = tmp_path_factory.mktemp("colour")
    videos = {
        "A": colour_video(folder / "a.mp4", [BLUE, ORANGE], seed=1),
        "A2": colour_video(folder / "a2.mp4", [BLUE, ORANGE], seed=2),
        "B": colour_video(folder / "b.mp4", [ORANGE], seed=3),
    }
    jobs = {name: server.submit(path, profile="colour") for name, path in videos.items()}
    return {name: server.wait_job(job)["video_id"] for name, job in jobs.items()}


def _cards(page: Any, selector: str = ".search-cards .card") -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        selector,
        """cards => cards.map(c => ({video: c.dataset.videoId,
             href: c.querySelector('a.card-link').getAttribute('href'),
             title: c.querySelector('.card-title').textContent}))""",
    )


def _images_loaded(page: Any, selector: str) -> list[int]:
    """The natural widths of the images under ``selector`` once every one has loaded (or failed: width 0)."""
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(i => i.complete)", arg=selector, timeout=TIMEOUT_MS
    )
    return page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.naturalWidth)")


def _count(page: Any, pattern: str) -> str:
    """The aria-live count once it matches ``pattern`` (a regex; the page may be re-rendering meanwhile)."""
    page.wait_for_function(
        "re => new RegExp(re).test(document.querySelector('.search-count')?.textContent ?? '')",
        arg=pattern,
        timeout=TIMEOUT_MS,
    )
    return page.locator(".search-count").inner_text()


def test_search_by_label_and_by_temporal_query(server: Server, collection: dict[str, str], page_for: Any) -> None:
    ids = collection
    # the API's answers, asked without the page
    by_video = server.get("/v1/search", "read", params={"label": WALK, "group_by": "video"})["hits"]
    assert {h["video_id"] for h in by_video} == {ids["A"], ids["A2"]}  # B is orange only: no walk
    pairs = server.get("/v1/search/sequence", "read", params={"first": WALK, "then": RUN, "within_s": 0.5})["hits"]
    assert {h["video_id"] for h in pairs} == {ids["A"], ids["A2"]}
    assert server.get("/v1/search/sequence", "read", params={"first": RUN, "then": WALK, "within_s": 0.5})["hits"] == []
    runs = server.get("/v1/search", "read", params={"label": RUN, "sort": "time"})["hits"]
    run_a = next(h for h in runs if h["video_id"] == ids["A"])
    assert run_a["start_s"] == pytest.approx(1.0) and run_a["thumbnail"]  # the cut

    page = page_for("read", "#/search")
    assert "Search" in page.locator("#nav a").all_inner_texts()
    page.fill("#search-label", WALK)
    page.select_option("#search-group", "video")
    page.press("#search-label", "Enter")  # by keyboard: Enter in a field submits its form
    _count(page, f"^{len(by_video)} videos$")
    assert re.search(r"#/search\?label=walk&.*group_by=video", page.url)  # the query is in the URL
    cards = _cards(page)
    assert sorted(c["video"] for c in cards) == sorted([ids["A"], ids["A2"]])
    page.wait_for_function("() => document.querySelectorAll('#search-labels option').length >= 2")
    labels = page.eval_on_selector_all("#search-labels option", "options => options.map(o => o.value)")
    assert sorted(labels) == [RUN, WALK]  # the label inputs' suggestions: the labels the collection has
    for card, hit in zip(cards, by_video):  # same order as the API's, each opening its video at the best segment
        best = hit["best_segment"]
        assert card["video"] == hit["video_id"] and card["title"] == WALK
        assert card["href"] == f"#/videos/{hit['video_id']}?t={best['start_s']:g}"
    assert _images_loaded(page, ".search-cards img.thumb") == [48, 48]  # the segment thumbnails (48 px wide)

    # a run search by time, then open A's run segment: the video page at the cut
    page.fill("#search-label", RUN)
    page.select_option("#search-group", "clip")
    page.select_option("#search-sort", "time")
    page.click(".search-form:has(#search-label) button[type=submit]")
    _count(page, f"^{len(runs)} segments$")
    assert [c["video"] for c in _cards(page)] == [h["video_id"] for h in runs]
    page.focus(f".search-cards .card[data-segment-id='{run_a['segment_id']}'] a.card-link")
    page.keyboard.press("Enter")  # a real link: the keyboard opens it
    page.wait_for_url(re.compile(rf"#/videos/{ids['A']}\?t=1$"))
    page.wait_for_selector("#player", timeout=TIMEOUT_MS)
    player_at(page, 1.0)
    page.go_back()  # back to the same search, run again from the URL
    page.wait_for_url(re.compile(r"#/search\?label=run"))
    _count(page, f"^{len(runs)} segments$")
    assert page.input_value("#search-label") == RUN

    # the temporal query builder: walk then run within 0.5 s finds A and A2; the reverse order finds nothing
    page.fill("#search-first", WALK)
    page.fill("#search-then", RUN)
    page.fill("#search-within", "0.5")
    page.click(".search-form:has(#search-first) button[type=submit]")
    _count(page, f"^{len(pairs)} pairs$")
    assert "first=walk" in page.url and "within_s=0.5" in page.url
    shown = _cards(page, ".search-cards .card-pair")
    assert [c["video"] for c in shown] == [h["video_id"] for h in pairs]
    assert all(c["title"] == f"{WALK} → {RUN}" for c in shown)
    assert [c["href"] for c in shown] == [f"#/videos/{h['video_id']}?t={h['first']['start_s']:g}" for h in pairs]
    page.fill("#search-first", RUN)
    page.fill("#search-then", WALK)
    page.click(".search-form:has(#search-first) button[type=submit]")
    _count(page, "^0 pairs$")
    assert _cards(page) == []

    # paging: two hits a request, "More results" until every segment is shown, in the API's order
    every: list[dict[str, Any]] = []
    token = None
    while True:
        params = {"sort": "time", "max_results": 2, **({"next_token": token} if token else {})}
        body = server.get("/v1/search", "read", params=params)
        every, token = every + body["hits"], body["next_token"]
        if token is None:
            break
    assert len(every) > 4  # at least three pages (every video has a walk or run segment per shot)
    page.evaluate("() => { window.location.hash = '#/search?sort=time&max_results=2'; }")
    for shown in range(2, len(every), 2):
        _count(page, rf"^{shown} segments so far \(more available\)$")
        page.click("button.search-more")
    _count(page, f"^{len(every)} segments$")
    assert page.locator("button.search-more").is_hidden()
    ids_shown = page.eval_on_selector_all(".search-cards .card", "cards => cards.map(c => Number(c.dataset.segmentId))")
    assert ids_shown == [h["segment_id"] for h in every]
    assert_no_console_errors(page)


def test_similar_moments_from_a_segment(server: Server, collection: dict[str, str], page_for: Any) -> None:
    """From A's first segment (walk, 0-1 s) on the video page: the near copy A2 comes first (the query video is
    left out by default); with "include moments of the same video", A itself (similarity 1) comes first."""
    ids = collection
    segments = server.get(f"/v1/videos/{ids['A']}/segments", "read")["segments"]
    first = segments[0]
    assert (first["label"], first["start_s"], first["end_s"]) == (WALK, 0.0, 1.0)
    body = {"video_id": ids["A"], "start_s": first["start_s"], "end_s": first["end_s"], "max_results": 12}
    r = server.client.post("/v1/search/similar", headers=server.auth("read"), json=body)
    assert r.status_code == 200, r.text
    moments = r.json()["moments"]
    assert moments[0]["video_id"] == ids["A2"] and ids["A"] not in {m["video_id"] for m in moments}

    page = page_for("read", f"#/videos/{ids['A']}")
    page.locator("button.similar").first.click()  # the video page's "similar" button of its first segment
    page.wait_for_url(re.compile(r"#/search\?similar="))
    _count(page, f"^{len(moments)} similar moments \\(embeddings of r2plus1d_tiny\\)$")
    shown = page.eval_on_selector_all(
        ".search-cards .card-moment",
        "cards => cards.map(c => [c.dataset.videoId, c.querySelector('.card-title').textContent])",
    )
    assert [v for v, _ in shown] == [m["video_id"] for m in moments]
    assert shown[0] == [ids["A2"], f"similarity {moments[0]['similarity']:.3f}"]
    r = server.client.post(
        "/v1/search/similar", headers=server.auth("read"), json={**body, "exclude_same_video": False}
    )
    assert r.status_code == 200, r.text
    with_own = r.json()["moments"]
    assert ids["A"] in {m["video_id"] for m in with_own}  # the query video's own moment is offered now
    page.check("#similar-same")
    page.wait_for_url(re.compile(r"same=1"))
    page.wait_for_selector(f".search-cards .card-moment[data-video-id='{ids['A']}']", timeout=TIMEOUT_MS)
    order = page.eval_on_selector_all(".search-cards .card-moment", "cards => cards.map(c => c.dataset.videoId)")
    assert order == [m["video_id"] for m in with_own]
    assert_no_console_errors(page)


def test_moderation_review_lands_in_the_audit_trail(server: Server, collection: dict[str, str], page_for: Any) -> None:
    ids = collection
    open_flags = server.get("/v1/moderation/flags", "review")["flags"]
    # every video has one run segment (A, A2: the orange shot 1-2 s; B: 0-2 s) and the policy flags each
    assert sorted((f["video_id"], f["evidence"]["label"]) for f in open_flags) == sorted(
        (ids[n], RUN) for n in ("A", "A2", "B")
    )
    flag = next(f for f in open_flags if f["video_id"] == ids["B"])

    page = page_for("review", "#/moderation")
    assert "Moderation" in page.locator("#nav a").all_inner_texts()
    page.wait_for_function(
        "n => document.querySelector('.mod-count')?.textContent === `${n} open flags`",
        arg=len(open_flags),
        timeout=TIMEOUT_MS,
    )
    card = page.locator(f".mod-flags li.flag[data-flag-id='{flag['flag_id']}']")
    assert card.locator("dl").inner_text().split("\n")[:2] == ["Label", RUN]
    assert _images_loaded(page, f"li[data-flag-id='{flag['flag_id']}'] img.flag-thumb") == [48]
    # the flagged segment plays in place: the player seeks to its start and pauses at its end
    video = card.locator("video.flag-video")
    assert video.get_attribute("src").endswith(
        f"/media#t={flag['evidence']['start_s']:g},{flag['evidence']['end_s']:g}"
    )
    card.locator("button.flag-play").click()
    video.evaluate(
        """(v, end) => new Promise((ok, no) => {
             const t = setTimeout(() => no(new Error('not paused at the end')), 15000);
             const check = () => { if (v.paused && v.currentTime >= end - 0.25) { clearTimeout(t); ok(); } };
             v.addEventListener('pause', check); check(); })""",
        flag["evidence"]["end_s"],
    )

    card.locator("textarea").fill(NOTE)
    card.locator("button.review-confirm").click()
    page.wait_for_function(
        "n => document.querySelector('.mod-count')?.textContent.startsWith(`${n} open flags`)",
        arg=len(open_flags) - 1,
        timeout=TIMEOUT_MS,
    )
    assert page.locator(f".mod-flags:not(.mod-done-list) li[data-flag-id='{flag['flag_id']}']").count() == 0
    done = page.locator(f".mod-done-list li[data-flag-id='{flag['flag_id']}']")
    assert done.get_attribute("data-status") == "reviewed"
    rows = done.locator(".audit-table tbody tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[1].startswith(f"key:{server.key_ids['review']} ({server.keys['review'][:8]}")
    assert cells[2:] == ["confirm", NOTE, "reviewed"]

    # the API agrees: out of the open list, reviewed, its audit entry names the key, decision and note
    assert flag["flag_id"] not in {f["flag_id"] for f in server.get("/v1/moderation/flags", "review")["flags"]}
    stored = server.get(f"/v1/moderation/flags/{flag['flag_id']}", "review")
    assert (stored["status"], stored["decision"]) == ("reviewed", "confirm")
    assert [(e["who"], e["decision"], e["note"]) for e in stored["reviews"]] == [
        (f"key:{server.key_ids['review']}", "confirm", NOTE)
    ]

    # the reviewed list shows it; its audit trail (loaded on opening) has the same entry
    page.select_option("#mod-status", "reviewed")
    page.wait_for_url(re.compile(r"#/moderation\?status=reviewed$"))
    page.wait_for_function("() => document.querySelector('.mod-count')?.textContent === '1 reviewed flag'")
    listed = page.locator(f".mod-flags li[data-flag-id='{flag['flag_id']}']")
    listed.locator("details.flag-audit summary").click()
    listed.locator(".audit-table tbody tr").wait_for(timeout=TIMEOUT_MS)
    assert listed.locator(".audit-table tbody tr td").all_inner_texts()[2:] == ["confirm", NOTE, "reviewed"]
    assert listed.locator("form.review-form").count() == 0  # a reviewed flag takes no new decision
    assert_no_console_errors(page)


def test_read_key_is_not_offered_moderation(server: Server, collection: dict[str, str], page_for: Any) -> None:
    page = page_for("read", "#/moderation")
    assert "Moderation" not in page.locator("#nav a").all_inner_texts()
    assert "Search" in page.locator("#nav a").all_inner_texts()
    assert page.locator("main").inner_text().strip() == "This page needs scope review."
    r = server.client.get("/v1/moderation/flags", headers=server.auth("read"))
    assert r.status_code == 403 and "review" in r.json()["detail"]
    assert_no_console_errors(page)
