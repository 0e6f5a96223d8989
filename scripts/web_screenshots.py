"""Screenshots of every web page for the README: ``.venv/bin/python scripts/web_screenshots.py [--out DIR]``.

Starts ``vidstruct serve`` as the web tests do (tests/web/webkit.py: SQLite in a temporary folder, one worker,
the tiny constant-backbone profile, one key per scope), analyses a small collection of three synthetic videos
(the policy flags a ``walk`` segment of 2.5 s or more: only the 3 s single-shot video gets a flag), adds actor
keyframes to one video (the tiny profile has no person detector), signs in with the admin key and saves PNGs at
1280×800 of the sign-in, upload, jobs, videos, video (player and lanes; segments table), search and moderation
pages (default ``docs/screenshots``).
Needs Debian's ``chromium`` and Playwright for Python, like the browser tests; takes about a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))

from webkit import add_actors, chromium_executable, cut_video, player_at, start_server  # noqa: E402

VIEWPORT = {"width": 1280, "height": 800}
SCROLL_TO_SEGMENTS = "() => scrollBy(0, document.querySelector('#segments-count').getBoundingClientRect().top - 90)"
POLICY = """version: 1
categories:
  - name: gait
    labels: [walk]
rules:
  - name: long-walk
    category: gait
    min_prob: 0.5
    min_duration_s: 2.5
    severity: medium
    action: flag
"""
# (file name, seconds, cut at): two shots, two shots, one shot (cut after the end)
VIDEOS = [("street.mp4", 2.0, 1.0), ("park.mp4", 3.0, 2.0), ("hall.mp4", 3.0, 9.0)]
ACTORS = [(0, 0.5, [0.2, 0.25, 0.6, 0.9], 0.93, "walk"), (0, 1.0, [0.3, 0.25, 0.7, 0.9], 0.91, "walk"),
          (1, 1.5, [0.55, 0.1, 0.95, 0.7], 0.82, "wave")]  # fmt: skip


def _shoot(page: Any, out: Path, name: str, ready: str) -> Path:
    page.wait_for_selector(ready, timeout=60_000)
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder of the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="vidstruct-shots-") as tmp:
        root = Path(tmp)
        server = start_server(root, policy=POLICY)
        try:
            jobs = [server.submit(cut_video(root / name, seconds, cut_s=cut), job_tag=Path(name).stem)
                    for name, seconds, cut in VIDEOS]  # fmt: skip
            videos = [server.wait_job(job_id)["video_id"] for job_id in jobs]
            add_actors(server, videos[0], ACTORS)
            flags = server.get("/v1/moderation/flags", scope="review")
            print(f"{len(videos)} videos analysed, {len(flags['flags'])} open moderation flag(s)")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_executable(), args=["--no-sandbox"])
                context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
                page = context.new_page()
                page.goto(f"{server.url}/#/signin")
                _shoot(page, args.out, "signin", "#signin-key")
                page.fill("#signin-key", server.keys["admin"])
                page.click("form button[type=submit]")
                page.wait_for_url("**/#/jobs")
                _shoot(page, args.out, "jobs", "#jobs-table tbody tr a.video-link")
                page.goto(f"{server.url}/#/upload")
                page.set_input_files("#upload-file", str(root / VIDEOS[0][0]))
                _shoot(page, args.out, "upload", "#upload-file")
                page.goto(f"{server.url}/#/videos")
                _shoot(page, args.out, "videos", "#video-list a")
                page.goto(f"{server.url}/#/videos/{videos[0]}?t=0.6")
                page.wait_for_selector("#segments-table tbody tr", timeout=60_000)
                player_at(page, 0.6)
                _shoot(page, args.out, "video", ".actor-box")
                page.evaluate(SCROLL_TO_SEGMENTS)
                _shoot(page, args.out, "video-segments", "#segments-table")
                page.goto(f"{server.url}/#/search?label=walk")
                _shoot(page, args.out, "search", "li.card")
                page.goto(f"{server.url}/#/moderation")
                _shoot(page, args.out, "moderation", "li.flag")
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
