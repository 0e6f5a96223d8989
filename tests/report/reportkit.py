"""Helpers of the report tests: a small analysed video (a real H.264 mp4, its structure.json and JPEG
thumbnails), and a report opened in a headless Chromium (Playwright) that refuses every non-file request.

The browser is Debian's ``chromium`` package (``apt-get install chromium``), never one downloaded by
``playwright install``; ``VIDSTRUCT_CHROMIUM`` may name another Chromium binary. A missing browser fails
the tests with what to install (it does not skip them): CI must run them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vidstruct.io.writer import write_video
from vidstruct.structure.builders import (
    actor_record,
    model_record,
    segment_record,
    shots_from_cuts,
    structure_document,
    thumbnail_record,
    video_record,
    window_record,
)
from vidstruct.structure.files import write_structure

#: A label that would run script if the report pasted it into the page as HTML.
HOSTILE = (
    '</script><script>window.__pwned = 1</script><img src="http://example.invalid/x.png" onerror="window.__pwned = 2">'
)

DURATION_S = 4.0
FPS = 10.0
SIZE = (128, 96)  # width, height in pixels
CUTS_S = [1.5, 2.8]
# (label, start_s, end_s, score, source, shot, with thumbnail)
SEGMENTS = [
    ("walk", 0.2, 1.2, 0.91, "windows", 0, True),
    ("wave", 0.5, 1.4, 0.72, "windows", 0, False),
    ("walk", 1.6, 2.6, 0.55, "windows", 1, False),
    ("jump", 2.9, 3.5, 0.84, "localizer", 2, True),
    ("walk", 3.0, 3.9, 0.30, "windows", 2, False),
]
# (track_id, time_s, box, person probability, actions)
ACTORS = [
    (0, 1.0, (0.1, 0.2, 0.4, 0.9), 0.97, {"stand": 0.8}),
    (0, 2.0, (0.2, 0.2, 0.5, 0.9), 0.95, {"walk": 0.7, "stand": 0.2}),
    (0, 3.0, (0.3, 0.2, 0.6, 0.9), 0.90, {"walk": 0.9}),
    (1, 2.0, (0.6, 0.1, 0.9, 0.8), 0.81, {"stand": 0.6}),
]
WARNING = "shots: TransNetV2 was not available; the content-difference detector ran instead."


@dataclass
class Analysis:
    """One analysed video on disk: ``video`` (mp4), ``structure`` (its structure.json), ``folder`` (holds it)."""

    video: Path
    structure: Path
    document: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.structure.parent


def _frames(num: int, width: int, height: int) -> Iterator[np.ndarray]:
    """uint8 [H, W, 3] RGB frames: one background colour per shot, a white square moving right."""
    colours = [(40, 90, 160), (160, 60, 40), (40, 140, 70)]
    for i in range(num):
        t = i / FPS
        shot = sum(t >= c for c in CUTS_S)
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = colours[shot]
        x = int((width - 24) * t / DURATION_S)
        frame[36:60, x : x + 24] = 255
        yield frame


def _jpeg(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, format="JPEG", quality=80)


def make_analysis(root: Path, *, hostile: bool = False) -> Analysis:
    """Write a 4 s, 10 fps, 128x96 H.264 video under ``root/videos`` and its analysis under ``root/out/clip``.

    ``hostile``: the label ``wave``, one warning and a model name become :data:`HOSTILE`.
    """
    video = write_video(root / "videos" / "clip.mp4", _frames(int(DURATION_S * FPS), *SIZE), FPS)
    folder = root / "out" / "clip"
    wave = HOSTILE if hostile else "wave"
    labels = {"walk": "walk", "wave": wave, "jump": "jump"}
    models = {
        "shots": model_record("content-difference", "shots", settings={"threshold": 0.3}),
        "recognizer": model_record(
            HOSTILE if hostile else "vivit_tiny",
            "recognition",
            checkpoint="runs/recognizer/model.pt",
            checkpoint_sha256="ab" * 32,
            classes=["walk", wave, "jump"],
            settings={"window_s": 1.0, "stride_s": 1.0},
        ),
        "localizer": model_record("bmn", "localization", classes=["walk", wave, "jump"], settings={"nms": "soft"}),
        "actors": model_record("toy-detector", "action-detection", classes=["stand", "walk"], settings={}),
    }
    thumbs = [f"thumbs/shot_{i}.jpg" for i in range(len(CUTS_S) + 1)]
    for i, rel in enumerate(thumbs):
        _jpeg(folder / rel, ((60 * i) % 255, 100, 200))
    shots = shots_from_cuts(CUTS_S, [0.93, 0.88], DURATION_S, model="shots", thumbnails=thumbs)
    segments, thumbnails = (
        [],
        [thumbnail_record(rel, s["start_s"], "shot", i) for i, (rel, s) in enumerate(zip(thumbs, shots))],
    )
    for i, (label, start, end, score, source, shot, with_thumb) in enumerate(SEGMENTS):
        thumb = None
        if with_thumb:
            thumb = f"thumbs/segment_{i}.jpg"
            _jpeg(folder / thumb, (200, 180, 40))
            thumbnails.append(thumbnail_record(thumb, start, "segment", i))
        model = "localizer" if source == "localizer" else "recognizer"
        segments.append(
            segment_record(labels[label], start, end, score, source=source, model=model, shot=shot, thumbnail=thumb)
        )
    windows = [window_record(t, t + 1.0, {"walk": 0.6, wave: 0.3}, model="recognizer") for t in (0.0, 1.0, 2.0, 3.0)]
    actors = [actor_record(*a, model="actors") for a in ACTORS]
    document = structure_document(
        video=video_record(
            id="clip",
            path=str(video),
            sha256="cd" * 32,
            width=SIZE[0],
            height=SIZE[1],
            codec="h264",
            duration_s=DURATION_S,
            fps=FPS,
            num_frames=int(DURATION_S * FPS),
        ),
        models=models,
        shots=shots,
        segments=segments,
        windows=windows,
        actors=actors,
        thumbnails=thumbnails,
        timings={"decode": 0.4, "shots": 0.1, "total": 1.2},
        warnings=[WARNING, HOSTILE] if hostile else [WARNING],
    )
    structure = write_structure(folder, document)
    return Analysis(video=video, structure=structure, document=document)


def make_bare_analysis(root: Path) -> Analysis:
    """What analyze writes with no model and an unknown duration: one shot, no thumbnail, nothing else."""
    video = write_video(root / "videos" / "clip.mp4", _frames(int(DURATION_S * FPS), *SIZE), FPS)
    document = structure_document(
        video=video_record(id="bare", path=str(video), sha256="ef" * 32, width=SIZE[0], height=SIZE[1], codec="h264"),
        models={"shots": model_record("content-difference", "shots")},
        shots=shots_from_cuts([], [], DURATION_S, model="shots"),
    )
    structure = write_structure(root / "out" / "bare", document)
    return Analysis(video=video, structure=structure, document=document)


# ---------------------------------------------------------------------------------------------- browser


@dataclass
class OpenedReport:
    """A report loaded in a fresh page; what the page logged and requested while it was open."""

    page: Any
    errors: list[str]  # console errors and uncaught exceptions
    requests: list[str]  # every URL the page asked for
    blocked: list[str]  # URLs refused because they were not file: URLs


def open_report(browser: Any, report: Path) -> OpenedReport:
    """Open ``report`` in a new page whose every non-``file:`` request is refused (and recorded), and wait
    until the video's metadata has loaded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    opened = OpenedReport(page, [], [], [])
    page.on(
        "console", lambda msg: opened.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
    )
    page.on("pageerror", lambda exc: opened.errors.append(f"page error: {exc}"))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("websocket", lambda ws: opened.blocked.append(ws.url))

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            opened.blocked.append(url)
            route.abort()

    context.route("**/*", guard)
    page.goto(report.as_uri())
    page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=15_000)
    return opened


def wait_for_seek(page: Any, target_s: float, *, timeout_ms: float = 10_000) -> None:
    """Wait until the player has sought to ``target_s`` seconds (within 10 ms) and holds a decoded frame there.

    Predicates given to ``wait_for_function`` are functions, never expressions: Playwright evaluates an
    expression with ``eval`` inside the page, which the report's Content-Security-Policy refuses.
    """
    page.wait_for_function(
        "(t) => { const v = document.getElementById('player');"
        " return !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - t) < 0.01; }",
        arg=target_s,
        timeout=timeout_ms,
    )
