"""Jobs end to end, on SQLite and PostgreSQL: upload → queued → a worker runs the tiny profile → SUCCEEDED →
results, exports, thumbnails and the media (range requests) served; idempotency; cancel; a worker whose lease
expired loses the job to another and the results are stored exactly once; failures (a corrupt file, a full
disk) fail the job with a reason while the service keeps serving; deleting a video."""

from __future__ import annotations

import csv
import errno
import io
import json
from datetime import timedelta

import pytest
import webvtt
from servicekit import CLASSES, CONSTANT_PROB, Api
from sqlalchemy import func, select, update

from vidstruct.service.db.models import Analysis, AuditEntry, Job, Segment, Shot, Video, utc_now
from vidstruct.service.jobs import worker as worker_module
from vidstruct.service.jobs.queue import claim_job, complete_job


def _submit(api: Api, video: bytes, **data: str) -> dict:
    files = {"file": ("clip.mp4", video, "video/mp4")}
    response = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data=data)
    assert response.status_code in (200, 202), response.text
    return response.json()


def _job(api: Api, job_id: str) -> dict:
    return api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("read")).json()


def _count(api: Api, table: type) -> int:
    with api.session() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_upload_to_results(api: Api, video_bytes: bytes) -> None:
    c, read = api.client, api.auth("read")
    submitted = _submit(api, video_bytes, features="shots,labels,segments", job_tag="e2e", client_request_token="tok-1")
    assert submitted["status"] == "QUEUED"
    job = _job(api, submitted["job_id"])
    assert (job["status"], job["progress"], job["error"], job["job_tag"]) == ("QUEUED", {}, None, "e2e")
    video_id = job["video_id"]
    # the same token: the same job, nothing new stored
    assert _submit(api, video_bytes, client_request_token="tok-1") == submitted
    assert (_count(api, Job), _count(api, Video)) == (1, 1)
    assert api.worker().run(exit_when_idle=True) == 1
    job = _job(api, submitted["job_id"])
    assert job["status"] == "SUCCEEDED" and job["attempts"] == 1 and job["error"] is None
    assert job["progress"]["writing"] == 100.0 and set(job["progress"].values()) == {100.0}  # every stage finished

    meta = c.get(f"/v1/videos/{video_id}", headers=read).json()
    assert (meta["duration_s"], meta["width"], meta["height"], meta["codec"]) == (2.0, 64, 64, "h264")
    assert meta["analysis"]["profile"]["name"] == "tiny" and meta["analyses"] == 1
    assert meta["analysis"]["models"]["recognizer"]["name"] == "r2plus1d_tiny"

    # the constant backbone: class 0 everywhere with probability softmax([2, 0, 0, 0])[0]; one segment per shot
    seg = c.get(f"/v1/videos/{video_id}/segments", headers=read).json()
    assert [(s["label"], s["start_s"], s["end_s"]) for s in seg["segments"]] == [
        (CLASSES[0], 0.0, 1.0),
        (CLASSES[0], 1.0, 2.0),
    ]
    assert all(s["score"] == pytest.approx(CONSTANT_PROB, abs=1e-6) for s in seg["segments"])
    assert seg["models"]["recognizer"]["checkpoint_sha256"] and seg["next_token"] is None
    assert c.get(f"/v1/videos/{video_id}/segments?label=run", headers=read).json()["segments"] == []
    assert c.get(f"/v1/videos/{video_id}/segments?min_confidence=0.72", headers=read).json()["segments"] == []
    page = c.get(f"/v1/videos/{video_id}/segments?max_results=1", headers=read).json()
    assert len(page["segments"]) == 1 and page["next_token"]
    rest = c.get(f"/v1/videos/{video_id}/segments?max_results=1&next_token={page['next_token']}", headers=read).json()
    assert [s["start_s"] for s in rest["segments"]] == [1.0] and rest["next_token"] is None
    # per window: 1 s windows every 0.5 s starting inside the 2 s video, the last one cut at the end (1.5-2.0):
    # middles 0.5, 1.0, 1.5, 1.75; top-2 labels each
    stamps = c.get(f"/v1/videos/{video_id}/segments?aggregate=timestamps&label=walk", headers=read).json()
    assert [s["timestamp_s"] for s in stamps["segments"]] == [0.5, 1.0, 1.5, 1.75]
    by_name = c.get(f"/v1/videos/{video_id}/segments?aggregate=timestamps&sort=name", headers=read).json()["segments"]
    assert [s["label"] for s in by_name] == sorted(s["label"] for s in by_name) and len(by_name) == 8

    shots = c.get(f"/v1/videos/{video_id}/shots", headers=read).json()["shots"]
    assert [(s["start_s"], s["end_s"]) for s in shots] == [(0.0, 1.0), (1.0, 2.0)]
    thumb = c.get(f"/v1/videos/{video_id}/thumbnails/{shots[0]['thumbnail']}", headers=read)
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert c.get(f"/v1/videos/{video_id}/thumbnails/..%2F..%2Fvidstruct.db", headers=read).status_code == 404
    assert c.get(f"/v1/videos/{video_id}/actors", headers=read).json()["actors"] == []

    document = c.get(f"/v1/videos/{video_id}/structure", headers=read).json()
    with api.session() as session:
        folder = api.settings.data_dir / session.scalars(select(Analysis.folder)).one()
    written = json.loads((folder / "structure.json").read_text())
    # what analyze wrote, except the server-side path: the video's media URL instead
    assert str(api.settings.data_dir) in written["video"]["path"]
    assert document == {**written, "video": {**written["video"], "path": f"/v1/videos/{video_id}/media"}}
    assert document["format"] == "vidstruct.structure/1"
    otio = c.get(f"/v1/videos/{video_id}/export?format=otio", headers=read).text
    labelstudio = c.get(f"/v1/videos/{video_id}/export?format=labelstudio", headers=read).text
    assert str(api.settings.data_dir) not in otio + labelstudio  # no export reveals the server's folders

    vtt = c.get(f"/v1/videos/{video_id}/export?format=webvtt", headers=read)
    assert vtt.headers["content-type"].startswith("text/vtt")
    cues = webvtt.from_buffer(io.StringIO(vtt.text))
    assert [(cue.start, cue.end) for cue in cues] == [
        ("00:00:00.000", "00:00:01.000"),
        ("00:00:01.000", "00:00:02.000"),
    ]
    meta_track = c.get(f"/v1/videos/{video_id}/export?format=webvtt&part=segments", headers=read).text
    assert [json.loads(cue.text)["label"] for cue in webvtt.from_buffer(io.StringIO(meta_track))] == ["walk", "walk"]
    table = list(csv.DictReader(io.StringIO(c.get(f"/v1/videos/{video_id}/export?format=csv", headers=read).text)))
    assert len(table) > 0 and {"walk"} <= {row.get("label") for row in table}
    assert c.get(f"/v1/videos/{video_id}/export?format=activitynet", headers=read).status_code == 200
    assert c.get(f"/v1/videos/{video_id}/export?format=otio", headers=read).status_code == 200
    assert c.get(f"/v1/videos/{video_id}/export?format=pdf", headers=read).status_code == 422

    full = c.get(f"/v1/videos/{video_id}/media", headers=read)
    assert full.status_code == 200 and full.content == video_bytes and full.headers["accept-ranges"] == "bytes"
    part = c.get(f"/v1/videos/{video_id}/media", headers={**read, "Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == video_bytes[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(video_bytes)}"
    tail = c.get(f"/v1/videos/{video_id}/media", headers={**read, "Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == video_bytes[-50:]

    # deleting: the file, the results, the thumbnails; the audit log says so
    assert c.delete(f"/v1/videos/{video_id}", headers=api.auth("admin")).json()["deleted"] is True
    assert c.get(f"/v1/videos/{video_id}", headers=read).status_code == 404
    assert (_count(api, Video), _count(api, Analysis), _count(api, Segment), _count(api, Shot)) == (0, 0, 0, 0)
    assert not folder.exists() and list(api.settings.videos_dir.iterdir()) == []
    with api.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "video.delete")).one()
    assert entry.target == f"video:{video_id}" and entry.actor.startswith("key:")
    assert _job(api, submitted["job_id"])["status"] == "SUCCEEDED"  # the job's record stays


def test_an_expired_lease_goes_to_another_worker_and_results_are_stored_once(api: Api, video_bytes: bytes) -> None:
    job_id = _submit(api, video_bytes)["job_id"]
    factory = api.client.app.state.service.factory
    first = claim_job(factory, "worker-that-dies", lease_s=60, max_attempts=3)
    assert first is not None and first.id == job_id and first.attempts == 1
    assert claim_job(factory, "another", lease_s=60, max_attempts=3) is None  # the lease holds
    with api.session() as session:  # the first worker dies: nobody renews, the lease runs out
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utc_now() - timedelta(seconds=1)))
        session.commit()
    assert api.worker().run(exit_when_idle=True) == 1
    job = _job(api, job_id)
    assert (job["status"], job["attempts"]) == ("SUCCEEDED", 2)
    with api.session() as session:
        document = session.scalars(select(Analysis.document)).one()
    # the dead worker comes back and tries to store its results: refused, nothing is added
    assert complete_job(factory, first, "worker-that-dies", document, "analyses/x") is False
    assert (_count(api, Analysis), _count(api, Segment), _count(api, Shot)) == (1, 2, 2)


def test_a_job_fails_for_good_after_its_last_attempt(api: Api, video_bytes: bytes) -> None:
    job_id = _submit(api, video_bytes)["job_id"]
    factory = api.client.app.state.service.factory
    for attempt in (1, 2, 3):
        claimed = claim_job(factory, f"dies-{attempt}", lease_s=60, max_attempts=3)
        assert claimed is not None and claimed.attempts == attempt
        with api.session() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(lease_expires_at=utc_now() - timedelta(seconds=1))
            )
            session.commit()
    assert claim_job(factory, "late", lease_s=60, max_attempts=3) is None
    job = _job(api, job_id)
    assert job["status"] == "FAILED" and "lease expired" in job["error"] and job["attempts"] == 3


def test_cancel_and_list(api: Api, video_bytes: bytes) -> None:
    c = api.client
    first = _submit(api, video_bytes, job_tag="a")["job_id"]
    second = _submit(api, video_bytes, job_tag="b")["job_id"]
    assert _count(api, Video) == 1  # the same bytes: one video
    assert c.delete(f"/v1/jobs/{first}", headers=api.auth("write")).json()["status"] == "CANCELED"
    assert c.delete(f"/v1/jobs/{first}", headers=api.auth("write")).status_code == 409
    with api.session() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "job.cancel")).one()
    assert audit.target == f"job:{first}" and audit.actor.startswith("key:")
    listed = c.get("/v1/jobs?status=QUEUED", headers=api.auth("read")).json()["jobs"]
    assert [j["job_id"] for j in listed] == [second]
    assert [j["job_id"] for j in c.get("/v1/jobs?job_tag=a", headers=api.auth("read")).json()["jobs"]] == [first]
    page = c.get("/v1/jobs?max_results=1", headers=api.auth("read")).json()
    nxt = c.get(f"/v1/jobs?max_results=1&next_token={page['next_token']}", headers=api.auth("read")).json()
    assert {page["jobs"][0]["job_id"], nxt["jobs"][0]["job_id"]} == {first, second} and nxt["next_token"] is None
    assert c.get("/v1/jobs?status=DONE", headers=api.auth("read")).status_code == 422


def test_a_corrupt_file_and_a_full_disk_fail_the_job_with_a_reason(
    api: Api, video_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt = _submit(api, video_bytes)["job_id"]
    stored = next(api.settings.videos_dir.iterdir())
    stored.write_bytes(b"\x00" * 64)  # the file went bad on disk after it was accepted
    assert api.worker().run(exit_when_idle=True) == 1
    job = _job(api, corrupt)
    assert job["status"] == "FAILED" and job["error"] and str(stored) not in job["error"]
    assert not any(api.settings.analyses_dir.glob("*/*"))  # nothing half-written is left

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(worker_module, "run_analysis", full_disk)
    other = bytes(video_bytes[:-1]) + b"\x01"  # other bytes (its metadata tail), still a video
    full = _submit(api, other)["job_id"]
    assert api.worker().run(exit_when_idle=True) == 1
    assert _job(api, full) == {**_job(api, full), "status": "FAILED", "error": "No space left on device (errno 28)"}
    assert api.client.get("/healthz").json()["status"] == "ok"  # the service keeps serving
    assert api.client.get("/v1/jobs", headers=api.auth("read")).status_code == 200


def test_a_failure_while_storing_results_fails_that_job_and_the_worker_goes_on(
    api: Api, video_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the moderation check (or the store) raising inside complete_job: its transaction rolls back, the job fails
    # with the reason, and the same worker goes on to the next job
    first = _submit(api, video_bytes)["job_id"]
    second = _submit(api, bytes(video_bytes[:-1]) + b"\x01")["job_id"]
    real = worker_module.complete_job
    calls = []

    def failing_once(*args: object, **kwargs: object) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("policy check broke")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker_module, "complete_job", failing_once)
    assert api.worker().run(exit_when_idle=True) == 2
    statuses = {_job(api, first)["status"], _job(api, second)["status"]}
    assert statuses == {"FAILED", "SUCCEEDED"}
    failed = next(j for j in (_job(api, first), _job(api, second)) if j["status"] == "FAILED")
    assert failed["error"] == "storing the results failed: RuntimeError: policy check broke"
    with api.session() as session:  # nothing of the failed job was stored: one analysis, of the other job
        assert session.scalar(select(func.count()).select_from(Analysis)) == 1
