"""Helpers of the web tests: a real ``vidstruct serve`` (one worker, SQLite, a tiny profile, one API key per scope
made with ``vidstruct keys create``) on a free loopback port, and Playwright pages signed in to it whose console
errors are collected.

The tiny profile and videos are the service tests' (:mod:`servicekit`): a constant 4-class backbone whose top
label is ``walk`` with probability :data:`CONSTANT_PROB` everywhere, a content shot detector, and
:func:`cut_video` (one hard cut). The browser is Debian's ``chromium`` (:func:`browserkit.chromium_executable`).
Every wait is bounded; the server's log (stderr) is kept in ``DATA/../server.log``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_TESTS = Path(__file__).resolve().parents[1]
for _folder in (_TESTS / "service", _TESTS / "report", _TESTS):  # servicekit, pgcluster, reportkit, browserkit
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

from pgcluster import free_port  # noqa: E402
from servicekit import CLASSES, CONSTANT_PROB, cut_video, save_constant_backbone, write_profile  # noqa: E402
from servicekit import wait_for as poll_until  # noqa: E402

from browserkit import chromium_executable  # noqa: E402

__all__ = [
    "CLASSES", "CONSTANT_PROB", "WALK_FLAG_POLICY", "Server", "add_actors", "assert_no_console_errors",
    "chromium_executable", "console_errors", "cut_video", "forget_page", "player_at", "start_server", "track_page",
    "watch", "write_profile",
]  # fmt: skip

DEADLINE_S = 120.0
SCOPES = ("read", "write", "review", "admin")
#: a moderation policy flagging (not blocking) every ``walk`` segment of the constant backbone
WALK_FLAG_POLICY = """version: 1
categories:
  - name: gait
    labels: [walk]
rules:
  - name: walk-flag
    category: gait
    min_prob: 0.5
    severity: low
    action: flag
"""


def wait_for(what: str, check: Callable[[], Any], proc: subprocess.Popen | None = None) -> Any:
    """Poll ``check`` until it returns something true (returned); AssertionError after :data:`DEADLINE_S` or when
    ``proc`` exits first."""
    return poll_until(what, check, proc, deadline_s=DEADLINE_S, poll_s=0.1)


def _cli(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "vidstruct", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"vidstruct {args[0]} failed: {done.stderr.strip()}"
    return done.stdout


@dataclass
class Server:
    """A running ``vidstruct serve``: its base URL, data folder, one key per scope (and their ids), its log."""

    url: str
    data_dir: Path
    keys: dict[str, str]
    key_ids: dict[str, int]
    log: Path
    proc: subprocess.Popen
    profile: str = "tiny"
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=30)
        return self._client

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    def get(self, path: str, scope: str = "admin", **kwargs: Any) -> Any:
        """GET ``path`` with the ``scope`` key; the JSON answer (asserts 200)."""
        r = self.client.get(path, headers=self.auth(scope), **kwargs)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def submit(self, video: Path, scope: str = "write", **fields: str) -> str:
        """Upload ``video`` as a job through the API; its id."""
        files = {"file": (video.name, video.read_bytes(), "video/mp4")}
        r = self.client.post("/v1/jobs", headers=self.auth(scope), files=files, data=fields)
        assert r.status_code in (200, 202), r.text
        return r.json()["job_id"]

    def wait_job(self, job_id: str) -> dict[str, Any]:
        """Wait until the job ends; the job (asserts it SUCCEEDED)."""
        done = wait_for(
            f"job {job_id} ends",
            lambda: (j := self.get(f"/v1/jobs/{job_id}"))["status"] in ("SUCCEEDED", "FAILED", "CANCELED") and j,
            self.proc,
        )
        assert done["status"] == "SUCCEEDED", done["error"]
        return done

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self._client is not None:
            self._client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def start_server(root: Path, *, policy: str | None = None, workers: int = 1) -> Server:
    """Migrate a SQLite database under ``root/data``, make one key per scope, write the tiny profile (and
    ``policy``, a moderation policy's YAML text, if given) and start ``vidstruct serve`` on a free port; returns
    once it answers with its workers alive."""
    data, profiles = root / "data", root / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    write_profile(profiles / "tiny.yaml", save_constant_backbone(profiles / "constant.pt"))
    _cli("db", "upgrade", "--data-dir", str(data))
    keys, ids = {}, {}
    for scope in SCOPES:
        out = _cli("keys", "create", "--scope", scope, "--name", f"web-{scope}", "--data-dir", str(data))
        lines = out.strip().splitlines()
        keys[scope], ids[scope] = lines[-1].strip(), int(lines[0].split()[2])
    port = free_port()
    argv = [sys.executable, "-m", "vidstruct", "serve", "--data-dir", str(data), "--profile-dir", str(profiles),
            "--default-profile", "tiny", "--workers", str(workers), "--port", str(port), "--lease-s", "15"]  # fmt: skip
    if policy is not None:
        (root / "policy.yaml").write_text(policy)
        argv += ["--policy", str(root / "policy.yaml")]
    log = root / "server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    server = Server(f"http://127.0.0.1:{port}", data, keys, ids, log, proc)

    def healthy() -> bool:
        try:
            body = httpx.get(f"{server.url}/healthz", timeout=5).json()
        except (httpx.TransportError, json.JSONDecodeError):
            return False
        return body.get("workers", {}).get("alive", 0) >= workers

    try:
        wait_for("the server answers with its workers alive", healthy, proc)
    except BaseException:
        server.stop()
        raise
    return server


def watch(page: Any) -> list[str]:
    """Collect ``page``'s console errors and uncaught exceptions (as text) into the returned list."""
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            errors.append(f"console: {msg.text} ({msg.location})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return errors


_ERRORS: dict[int, list[str]] = {}


def track_page(page: Any) -> list[str]:
    """Start collecting ``page``'s console errors (see :func:`console_errors`)."""
    _ERRORS[id(page)] = watch(page)
    return _ERRORS[id(page)]


def forget_page(page: Any) -> None:
    _ERRORS.pop(id(page), None)


def console_errors(page: Any) -> list[str]:
    """The console errors and uncaught exceptions a tracked ``page`` (every ``page_for`` page) logged so far."""
    return _ERRORS[id(page)]


def assert_no_console_errors(page: Any) -> None:
    """Fail when a tracked ``page`` logged a console error or threw."""
    errors = console_errors(page)
    assert errors == [], "\n".join(errors)


def player_at(page: Any, seconds: float, tolerance_s: float = 0.05) -> None:
    """Wait (10 s at most) until the page's ``#player`` video is at ``seconds``."""
    page.wait_for_function(
        "([t, tol]) => Math.abs(document.querySelector('#player').currentTime - t) < tol",
        arg=[seconds, tolerance_s],
        timeout=10_000,
    )


def add_actors(server: Server, video_id: str, actors: list[tuple[int, float, list[float], float, str]]) -> None:
    """Store actor keyframes ``(track, time_s, [x1, y1, x2, y2] in [0, 1], person probability, top action)`` in
    the rows of ``video_id``'s current analysis (the tiny profile has no person detector); the action's
    probability is 0.75."""
    from vidstruct.service.db.models import Actor
    from vidstruct.service.db.session import make_engine, session_factory, transaction
    from vidstruct.service.db.store import current_analysis

    engine = make_engine(f"sqlite+pysqlite:///{server.data_dir / 'vidstruct.db'}")
    try:
        with transaction(session_factory(engine)) as session:
            analysis = current_analysis(session, video_id)
            assert analysis is not None, f"video {video_id} has no analysis"
            for track, t, box, score, action in actors:
                session.add(Actor(analysis_id=analysis.id, video_id=video_id, track_id=track, time_s=t, box=box,
                                  score=score, actions=[{"label": action, "prob": 0.75}], model="test"))  # fmt: skip
    finally:
        engine.dispose()
