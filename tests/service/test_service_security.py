"""Keys, scopes, problem JSON, CORS, and hostile submissions: non-video uploads, oversized uploads, paths outside
the allowed roots (``..``, symlinks), malformed forms. Every case on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import errno
import io
import os
from pathlib import Path

import pytest
from servicekit import Api, make_api
from sqlalchemy import func, select

from vidstruct.service.api import uploads
from vidstruct.service.db.models import Job, Video
from vidstruct.service.settings import ServiceSettings

PROBLEM = "application/problem+json"


def _is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and "Traceback" not in response.text
    return body


def _stored(api: Api) -> tuple[int, int, list[str]]:
    with api.session() as session:
        videos = session.scalar(select(func.count()).select_from(Video))
        jobs = session.scalar(select(func.count()).select_from(Job))
    files = [str(p) for p in api.settings.data_dir.rglob("*") if p.is_file() and p.name != "vidstruct.db"]
    files = [f for f in files if not f.endswith(("-wal", "-shm"))]
    return videos, jobs, files


def test_keys_scopes_and_problem_json(api: Api) -> None:
    c = api.client
    body = _is_problem(c.get("/v1/jobs"), 401)
    assert body["instance"] == "/v1/jobs"
    assert c.get("/v1/jobs").headers["www-authenticate"] == "Bearer"
    _is_problem(c.get("/v1/jobs", headers={"Authorization": "Bearer vs_not-a-key"}), 401)
    _is_problem(c.get("/v1/jobs", headers={"Authorization": f"Basic {api.keys['admin']}"}), 401)
    assert c.get("/v1/jobs", headers=api.auth("read")).json() == {"jobs": [], "next_token": None}
    assert "Authorization" not in c.get("/v1/jobs", headers=api.auth("read")).text
    _is_problem(c.post("/v1/jobs", headers=api.auth("read"), data={"path": "/x"}), 403)
    _is_problem(c.post("/v1/jobs", headers=api.auth("review"), data={"path": "/x"}), 403)
    _is_problem(c.delete("/v1/videos/abc", headers=api.auth("write")), 403)
    _is_problem(c.get("/v1/jobs/nope", headers=api.auth("read")), 404)
    _is_problem(c.get("/v1/videos/nope/segments", headers=api.auth("read")), 404)
    body = _is_problem(c.get("/v1/jobs?max_results=0", headers=api.auth("read")), 422)
    assert body["errors"][0]["loc"] == ["query", "max_results"]
    _is_problem(c.get("/v1/jobs?next_token=%%%", headers=api.auth("read")), 400)
    _is_problem(c.get("/v1/nothing-here"), 404)
    # CORS is closed: no allow-origin header for a browser's preflight or request
    pre = c.options("/v1/jobs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers
    got = c.get("/v1/jobs", headers={**api.auth("read"), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in got.headers
    health = c.get("/healthz").json()
    assert health["status"] == "ok" and health["migrations"]["ok"] and health["workers"] == {"alive": 0, "busy": 0}
    assert "/v1/jobs" in c.get("/openapi.json").json()["paths"]
    assert c.get("/docs").status_code == 200


def test_a_non_video_upload_is_refused_and_nothing_is_stored(api: Api) -> None:
    files = {"file": ("clip.mp4", b"this is not a video at all" * 100, "video/mp4")}
    body = _is_problem(api.client.post("/v1/jobs", headers=api.auth("write"), files=files), 422)
    assert "not a readable video" in body["detail"] and "clip.mp4" not in body["detail"]
    assert _stored(api) == (0, 0, [])
    files = {"file": ("empty.mp4", b"", "video/mp4")}
    _is_problem(api.client.post("/v1/jobs", headers=api.auth("write"), files=files), 422)
    assert _stored(api) == (0, 0, [])


def test_malformed_forms_are_refused(api: Api, video_bytes: bytes) -> None:
    c, auth = api.client, api.auth("write")
    _is_problem(c.post("/v1/jobs", headers=auth, json={"path": "/x"}), 400)  # not multipart
    _is_problem(c.post("/v1/jobs", headers=auth, data={"features": "shots"}), 400)  # neither file nor path
    bad = {"content-type": "multipart/form-data; boundary=xyz", **auth}
    _is_problem(c.post("/v1/jobs", headers=bad, content=b"--xyz\r\ngarbage"), 400)
    file = {"file": ("v.mp4", video_bytes, "video/mp4")}
    for data, word in [
        ({"features": "shots,telepathy"}, "telepathy"),
        ({"profile": "../../etc/passwd"}, "profile"),
        ({"profile": "missing"}, "profile"),
        ({"min_confidence": "1.5"}, "min_confidence"),
        ({"min_confidence": "nan-ish"}, "min_confidence"),
        ({"webhook_url": "file:///etc/passwd"}, "webhook_url"),
        ({"client_request_token": "a" * 65}, "client_request_token"),
        ({"surprise": "1"}, "surprise"),
    ]:
        assert word in _is_problem(c.post("/v1/jobs", headers=auth, files=file, data=data), 422)["detail"]
    assert _stored(api) == (0, 0, [])


def test_an_oversized_upload_is_refused(settings: ServiceSettings, video_bytes: bytes) -> None:
    small = dataclasses.replace(settings, max_upload_bytes=len(video_bytes) - 1, max_form_bytes=1024)
    for api in make_api(small):
        files = {"file": ("v.mp4", video_bytes, "video/mp4")}
        _is_problem(api.client.post("/v1/jobs", headers=api.auth("write"), files=files), 413)
        _is_problem(api.client.post("/v1/jobs", headers=api.auth("write"), data={"job_tag": "x" * 2000}), 413)
        assert _stored(api) == (0, 0, [])


def test_paths_outside_the_allowed_roots_are_refused(
    settings: ServiceSettings, tmp_path: Path, video_bytes: bytes
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "ok.mp4").write_bytes(video_bytes)
    (outside / "secret.mp4").write_bytes(video_bytes)
    os.symlink(outside / "secret.mp4", root / "link.mp4")
    os.symlink(outside, root / "dirlink")
    (tmp_path / "root-sibling").mkdir()
    (tmp_path / "root-sibling" / "x.mp4").write_bytes(video_bytes)
    for api in make_api(dataclasses.replace(settings, allow_roots=(root,))):
        refused = [
            str(outside / "secret.mp4"),
            f"{root}/../outside/secret.mp4",
            f"{root}/sub/../../outside/secret.mp4",
            str(root / "link.mp4"),
            str(root / "dirlink" / "secret.mp4"),
            str(tmp_path / "root-sibling" / "x.mp4"),  # a prefix of the root's name is not inside it
            str(root),
            "sub/ok.mp4",  # relative
            str(root / "sub" / "missing.mp4"),
            "/etc/passwd",
        ]
        details = set()
        for path in refused:
            details.add(
                _is_problem(api.client.post("/v1/jobs", headers=api.auth("write"), data={"path": path}), 403)["detail"]
            )
        assert len(details) == 1 and "secret" not in details.pop()  # one message: it tells nothing about the files
        assert _stored(api) == (0, 0, [])
        ok = api.client.post("/v1/jobs", headers=api.auth("write"), data={"path": f"{root}/sub/./ok.mp4"})
        assert ok.status_code == 202
        with api.session() as session:
            video = session.scalars(select(Video)).one()
        assert (video.path, video.stored) == (str(root / "sub" / "ok.mp4"), False)


def test_a_full_disk_during_an_upload_is_a_507_and_leaves_nothing(
    api: Api, video_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullDisk(io.BytesIO):
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    opened: list[str] = []

    def fake_open(path: object, mode: str = "r") -> FullDisk:
        opened.append(str(path))
        Path(str(path)).touch()  # as open() would have made it
        return FullDisk()

    monkeypatch.setattr(uploads, "open", fake_open, raising=False)
    files = {"file": ("v.mp4", video_bytes, "video/mp4")}
    body = _is_problem(api.client.post("/v1/jobs", headers=api.auth("write"), files=files), 507)
    assert body["detail"] == "the upload could not be stored: No space left on device"
    assert len(opened) == 1 and not Path(opened[0]).exists()
    assert _stored(api) == (0, 0, [])
    assert api.client.get("/healthz").status_code == 200
