"""The Jobs page in a real headless Chromium against a real ``vidstruct serve`` started without workers (SQLite,
the tiny constant profile): a queued job is followed through the page's event stream while a real worker process
(started once the stream is open) runs it to "succeeded", with no list or job read while it was active (every
list answer the page got after its first shows the job ended: the page did not poll); and paging: 105 more jobs
make the newest page 100 rows, "Older" shows the rest, the URL keeps the page across a reload, "Newer" goes back;
and when every stream request fails, the page falls back to polling and still shows a job's change.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from webkit import Server, start_server, watch

from vidstruct.service.db.models import Job
from vidstruct.service.db.session import make_engine, session_factory, transaction

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server without workers: jobs stay queued until a test starts a worker."""
    instance = start_server(tmp_path_factory.mktemp("jobs-live"), workers=0)
    try:
        yield instance
    finally:
        instance.stop()


def _signed_in_page(browser: Any, server: Server) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    r = context.request.post("/ui/session", data={"key": server.keys["write"]})
    assert r.status == 200, r.text()
    page = context.new_page()
    return context, page, watch(page)


def _worker(server: Server) -> subprocess.Popen:
    argv = [sys.executable, "-m", "vidstruct", "worker", "--quiet", "--data-dir", str(server.data_dir),
            "--profile-dir", str(server.data_dir.parent / "profiles"), "--default-profile", "tiny",
            "--lease-s", "15", "--poll-s", "0.1"]  # fmt: skip
    return subprocess.Popen(argv, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _row_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all("#jobs-table tbody tr", "trs => trs.map((tr) => tr.dataset.jobId)")


def test_a_job_is_followed_by_its_event_stream_without_polling(browser: Any, server: Server, video_path: Path) -> None:
    job_id = server.submit(video_path)
    assert server.get(f"/v1/jobs/{job_id}")["status"] == "QUEUED"
    context, page, errors = _signed_in_page(browser, server)
    requests: list[tuple[str, str]] = []  # (resource type, path) of every API request, in order
    listed: list[str] = []  # the job's status in each list answer the page got

    def on_request(request: Any) -> None:
        path = urlparse(request.url).path
        if path.startswith("/v1/"):
            requests.append((request.resource_type, path))

    def on_list(route: Any) -> None:
        response = route.fetch()
        jobs = {j["job_id"]: j["status"] for j in response.json()["jobs"]}
        listed.append(jobs.get(job_id, "absent"))
        route.fulfill(response=response)

    page.on("request", on_request)
    page.route(re.compile(r"/v1/jobs\?"), on_list)  # the list (not /v1/jobs/events?...)
    worker = None
    try:
        page.goto(f"{server.url}/#/jobs")
        page.wait_for_selector("#page[data-live=stream]", timeout=TIMEOUT_MS)
        row = page.locator(f"tr[data-job-id='{job_id}']")
        assert row.locator(".badge").inner_text() == "queued"
        worker = _worker(server)
        row.locator(".badge", has_text="succeeded").wait_for(timeout=TIMEOUT_MS)
        assert row.locator("a.video-link").inner_text() == "Open video"
        # the stream's `end`: the list is read once more, nothing is active, the page rests
        page.wait_for_selector("#page[data-live=idle]", timeout=TIMEOUT_MS)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    job = server.get(f"/v1/jobs/{job_id}")
    assert job["status"] == "SUCCEEDED" and job["progress"]
    # the first list answer had it queued; every later one (after the stream's end) has it ended: no list was read
    # while it was active
    assert listed[0] == "QUEUED" and len(listed) >= 2 and set(listed[1:]) == {"SUCCEEDED"}, listed
    streams = [r for r in requests if r[1] == "/v1/jobs/events"]
    assert streams == [("eventsource", "/v1/jobs/events")]  # one stream, never reopened
    assert not [r for r in requests if r[1].startswith("/v1/jobs/") and r[1] != "/v1/jobs/events"]  # no job reads
    # the stages the page shows are the job's
    stages = row.locator(".stage").evaluate_all("els => els.map((e) => e.dataset.stage)")
    assert stages == list(job["progress"])
    assert errors == [], "\n".join(errors)
    context.close()


def test_older_and_newer_pages(browser: Any, server: Server, video_path: Path) -> None:
    first = server.submit(video_path)
    video_id = server.get(f"/v1/jobs/{first}")["video_id"]
    engine = make_engine(f"sqlite+pysqlite:///{server.data_dir / 'vidstruct.db'}")
    try:
        with transaction(session_factory(engine)) as session:
            for i in range(104):
                session.add(Job(video_id=video_id, features=["segments"], profile="tiny", status="QUEUED",
                                attempts=0, progress={}, job_tag=f"page-{i}"))  # fmt: skip
                session.flush()  # one created_at each, in order
    finally:
        engine.dispose()
    every = [j["job_id"] for j in server.get("/v1/jobs?max_results=1000")["jobs"]]  # newest first
    assert len(every) >= 105 and len(every) < 200
    context, page, errors = _signed_in_page(browser, server)
    try:
        page.goto(f"{server.url}/#/jobs")
        page.wait_for_function(
            "() => document.querySelectorAll('#jobs-table tbody tr').length === 100", timeout=TIMEOUT_MS
        )
        assert _row_ids(page) == every[:100]
        assert page.locator("#jobs-page").inner_text() == "Page 1"
        assert page.locator("#jobs-newer").is_disabled() and page.locator("#jobs-older").is_enabled()

        def on_page(number: int, rows: int) -> None:
            page.wait_for_function(
                "([n, rows]) => document.querySelector('#jobs-page')?.textContent === `Page ${n}` && "
                "document.body.dataset.state === 'ready' && "
                "document.querySelectorAll('#jobs-table tbody tr').length === rows",
                arg=[number, rows],
                timeout=TIMEOUT_MS,
            )

        page.click("#jobs-older")
        page.wait_for_url(re.compile(r"#/jobs\?older="))
        on_page(2, len(every) - 100)
        assert _row_ids(page) == every[100:]
        assert page.locator("#jobs-older").is_disabled() and page.locator("#jobs-newer").is_enabled()
        page.reload()  # the URL keeps the page
        on_page(2, len(every) - 100)
        assert _row_ids(page) == every[100:]
        page.click("#jobs-newer")
        page.wait_for_url(re.compile(r"#/jobs$"))
        on_page(1, 100)
        assert _row_ids(page) == every[:100]
        assert errors == [], "\n".join(errors)
    finally:
        context.close()


def test_the_page_polls_when_the_stream_keeps_failing(browser: Any, server: Server, video_path: Path) -> None:
    """Every stream request fails (network error): after a few tries the page polls the list and still shows the
    job's changes."""
    job_id = server.submit(video_path)
    context, page, errors = _signed_in_page(browser, server)
    tries: list[str] = []

    def fail(route: Any) -> None:
        tries.append(route.request.url)
        route.abort()

    page.route(re.compile(r"/v1/jobs/events\?"), fail)
    try:
        page.goto(f"{server.url}/#/jobs")
        page.wait_for_selector("#page[data-live=poll]", timeout=TIMEOUT_MS)
        assert len(tries) >= 1
        row = page.locator(f"tr[data-job-id='{job_id}']")
        assert row.locator(".badge").inner_text() == "queued"
        r = server.client.delete(f"/v1/jobs/{job_id}", headers=server.auth("write"))
        assert r.status_code == 200, r.text
        row.locator(".badge", has_text="canceled").wait_for(timeout=TIMEOUT_MS)  # seen by a poll
        # the only errors are the failed stream requests
        assert [e for e in errors if "ERR_FAILED" not in e and "/v1/jobs/events" not in e] == [], errors
    finally:
        context.close()
