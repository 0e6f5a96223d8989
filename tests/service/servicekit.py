"""Tiny models, profiles and videos for the service tests (constructed weights, nothing downloaded).

- :func:`save_constant_backbone`: an ``r2plus1d_tiny`` checkpoint whose classifier ignores the clip: class 0
  (``walk``) on top everywhere with probability :data:`CONSTANT_PROB` = softmax([2, 0, 0, 0])[0], by construction;
- :func:`write_profile`: an analysis profile using it (1 s windows every 0.5 s, content shot detector);
- :func:`cut_video`: a 64 px H.264 video whose background changes colour at ``cut_s`` (one hard cut);
- :class:`Api` / :func:`make_api`: a test client of the API over given settings with one key per scope (the ``api``
  fixture of ``conftest.py``); test modules import them from here, never from ``conftest`` (every test folder's
  conftest is a module named ``conftest``).
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint
from vidstruct.models.spec import InputSpec
from vidstruct.service.api.app import create_app
from vidstruct.service.auth import create_key
from vidstruct.service.db.session import transaction
from vidstruct.service.jobs.worker import JobWorker
from vidstruct.service.settings import ServiceSettings

CLASSES = ["walk", "run", "jump", "wave"]
CONSTANT_PROB = math.exp(2) / (math.exp(2) + 3)
_SPEC = InputSpec(num_frames=4, frame_interval=2, crop_size=48, short_side=56, target_fps=10.0)


def save_constant_backbone(path: Path) -> Path:
    torch.manual_seed(0)
    kwargs = {"widths": [4, 4, 4, 8]}
    model = MODELS.build("r2plus1d_tiny", num_classes=len(CLASSES), **kwargs)
    model.input_spec = _SPEC
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.zero_()
        model.head.fc.bias[0] = 2.0
    return save_model_checkpoint(path, model.eval(), model_name="r2plus1d_tiny", model_kwargs=kwargs, classes=CLASSES)


def write_profile(path: Path, backbone: Path) -> Path:
    path.write_text(
        "task: analyze\n"
        f"name: {path.stem}\n"
        f"recognizer: {{checkpoint: {backbone.name}, window_s: 1.0, stride_s: 0.5, top_k: 2}}\n"
        "shots: {detector: content, options: {frame_size: [32, 18]}}\n"
        "thumbnails: {width: 48}\n"
        "runtime: {device: cpu}\n"
    )
    return path


def cut_video(path: Path, seconds: float = 2.0, *, cut_s: float = 1.0, fps: float = 10.0, size: int = 64) -> Path:
    """H.264: dark blue until ``cut_s``, then light orange, a grey square moving left to right."""
    n = int(round(seconds * fps))
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        frames[i] = (20, 30, 120) if i < round(cut_s * fps) else (230, 160, 60)
        x = int(i * (size - 16) / max(1, n - 1))
        frames[i, 24:40, x : x + 16] = 128
    return write_video(path, frames, fps)


def wait_for(
    what: str, check: Callable[[], Any], proc: subprocess.Popen | None = None, *, deadline_s: float = 180.0,
    poll_s: float = 0.05,
) -> Any:  # fmt: skip
    """Poll ``check`` until it returns something true (returned); AssertionError after ``deadline_s`` seconds or
    when the process ``proc`` exits first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) before: {what}")
        time.sleep(poll_s)
    raise AssertionError(f"not reached within {deadline_s} s: {what}")


@dataclass
class Api:
    """A test client of the API over ``settings``, with one key per scope."""

    client: TestClient
    settings: ServiceSettings
    keys: dict[str, str]

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    def session(self) -> Session:
        return self.client.app.state.service.factory()  # type: ignore[attr-defined]

    def worker(self) -> JobWorker:
        return JobWorker(self.settings, factory=self.client.app.state.service.factory)  # type: ignore[attr-defined]


def make_api(settings: ServiceSettings) -> Iterator[Api]:
    """Yield one :class:`Api` (an app over ``settings`` with a new key per scope, its client open); its engine is
    disposed afterwards. ``yield from make_api(...)`` in a fixture, or ``for api in make_api(...)`` in a test."""
    app = create_app(settings)
    factory = app.state.service.factory
    with transaction(factory) as session:
        keys = {scope: create_key(session, scope)[0] for scope in ("read", "write", "review", "admin")}
    with TestClient(app) as client:
        yield Api(client, settings, keys)
    app.state.service.engine.dispose()


def analyse_uploads(api: Api, files: dict[str, Path], names: tuple[str, ...]) -> dict[str, str]:
    """Upload ``files[name]`` for each of ``names``, let one in-process worker analyse them all; name -> video id
    (every job must succeed)."""
    ids = {}
    for name in names:
        upload = {"file": (f"{name}.mp4", files[name].read_bytes(), "video/mp4")}
        answer = api.client.post("/v1/jobs", files=upload, headers=api.auth("write"))
        assert answer.status_code == 202, answer.text
        ids[name] = answer.json()["job_id"]
    assert api.worker().run(exit_when_idle=True) == len(names)
    videos = {}
    for name, job_id in ids.items():
        job = api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("read")).json()
        assert job["status"] == "SUCCEEDED", job["error"]
        videos[name] = job["video_id"]
    return videos


def post_clip(api: Api, path: Path, **fields: Any) -> Any:
    """``POST /v1/search/similar/clip`` with ``path`` as the uploaded clip and ``fields`` as form fields (read key)."""
    upload = {"file": (path.name, path.read_bytes(), "video/mp4")}
    data = {k: str(v) for k, v in fields.items()}
    return api.client.post("/v1/search/similar/clip", files=upload, data=data, headers=api.auth("read"))
