"""``/v1/reels`` on SQLite and PostgreSQL: reels are queued jobs (kind ``reel``) that a worker renders. A reel of a
stored id video (frame ``i`` shows ``i``) is queued, seen in the job list, refused for download (409) until a
worker has rendered it, then decoded; chapters read back; segments chosen by label, by ids and by a search query;
a reel job whose worker died is rendered again by another and stored once; cancel, a gone video, the webhook, and
bad requests answered as problem JSON. Expected frames and chapter times follow from reelkit's segment table (on
a 10 fps video with a keyframe every 10 frames), never from the service's own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))  # videokit: id-frame videos
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reels"))  # reelkit: the reel test document

from reelkit import chapters, reel_duration_s, reel_ids, write_doc
from videokit import id_video

from vidstruct.service.db.models import Job, Reel, Segment, Video, utc_now
from vidstruct.service.db.store import add_analysis
from vidstruct.service.jobs.queue import claim_job
from vidstruct.service.reels.job import run_reel_job

if TYPE_CHECKING:
    from servicekit import Api  # only for the annotations


def _store(
    api: Api, video: Path, tmp_path: Path, long: tuple[float, float, float] | None = None
) -> tuple[str, dict[tuple[str, float], int]]:
    """The id video (a server-side file) with one analysis of reelkit's segments, or with ``long``: the video's
    duration and one ``jump`` segment ``(start_s, end_s)`` instead; returns its id and (label, start_s) -> segment
    row id."""
    document = json.loads(write_doc(tmp_path / "doc", video).read_text())
    if long is not None:
        duration, start, end = long
        document["video"]["duration_s"] = duration
        document["segments"] = [{**document["segments"][0], "start_s": start, "end_s": end, "thumbnail": None}]
    with api.session() as session, session.begin():
        row = Video(sha256="e" * 64, path=str(video), stored=False, size_bytes=video.stat().st_size)
        session.add(row)
        session.flush()
        analysis = add_analysis(session, document, video_id=row.id, job_id=None, folder="analyses/ids/out")
        session.flush()
        segs = session.query(Segment).filter(Segment.analysis_id == analysis.id).all()
        return row.id, {(s.label, s.start_s): s.id for s in segs}


@pytest.fixture
def stored(api: Api, tmp_path: Path) -> tuple[Path, str, dict[tuple[str, float], int]]:
    """A 4 s, 10 fps id video (keyframe every 10 frames) with reelkit's segments."""
    video = id_video(tmp_path / "ids.mp4", 40, 10.0, gop=10)
    return (video, *_store(api, video, tmp_path))


def _queue(api: Api, body: dict[str, Any], scope: str = "write") -> dict[str, Any]:
    answer = api.client.post("/v1/reels", json=body, headers=api.auth(scope))
    assert answer.status_code == 202, answer.text
    queued = answer.json()
    assert set(queued) == {"reel_id", "job_id", "status"} and queued["status"] == "QUEUED"
    return queued


def _get(api: Api, url: str, **params: Any) -> dict[str, Any]:
    answer = api.client.get(url, params=params, headers=api.auth("read"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _download(api: Api, url: str, path: Path) -> Path:
    answer = api.client.get(url, headers=api.auth("read"))
    assert answer.status_code == 200, answer.text
    path.write_bytes(answer.content)
    return path


def _not_yet(api: Api, reel_id: str) -> None:
    for tail in ("file", "chapters"):
        answer = api.client.get(f"/v1/reels/{reel_id}/{tail}", headers=api.auth("read"))
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "is not rendered" in answer.json()["detail"]


def test_a_reel_is_queued_rendered_by_a_worker_listed_and_downloadable(api: Api, stored: Any, tmp_path: Path) -> None:
    _, video_id, seg_ids = stored
    queued = _queue(api, {"video_id": video_id, "label": "jump", "min_score": 0.75, "job_tag": "highlights"})
    reel_id, job_id = queued["reel_id"], queued["job_id"]
    waiting = _get(api, f"/v1/reels/{reel_id}")
    assert (waiting["status"], waiting["job_id"], waiting["parts"], waiting["file"]) == ("QUEUED", job_id, None, None)
    _not_yet(api, reel_id)
    job = _get(api, f"/v1/jobs/{job_id}")
    assert (job["kind"], job["reel_id"], job["status"], job["video_id"], job["job_tag"]) == (
        "reel", reel_id, "QUEUED", video_id, "highlights",
    )  # fmt: skip
    assert [j["job_id"] for j in _get(api, "/v1/jobs", kind="reel")["jobs"]] == [job_id]
    assert _get(api, "/v1/jobs", kind="analysis")["jobs"] == []
    assert api.client.get("/v1/jobs", params={"kind": "movie"}, headers=api.auth("read")).status_code == 422

    assert api.worker().run(exit_when_idle=True) == 1
    job = _get(api, f"/v1/jobs/{job_id}")
    assert (job["status"], job["attempts"], job["error"], job["progress"]) == ("SUCCEEDED", 1, None, {"render": 100.0})
    reel = _get(api, f"/v1/reels/{reel_id}")
    assert reel["status"] == "SUCCEEDED" and reel["mode"] == "copy"
    assert (reel["frames"], reel["duration_s"]) == (20, 2.0)  # jump [1, 2) and [3, 4): 10 frames each
    assert [p["segments"] for p in reel["parts"]] == [[seg_ids["jump", 1.0]], [seg_ids["jump", 3.0]]]
    listed = _get(api, "/v1/reels", video_id=video_id)
    assert listed["reels"] == [reel]
    mp4 = _download(api, reel["file"], tmp_path / "got.mp4")
    assert reel_ids(mp4) == [*range(10, 20), *range(30, 40)]
    assert reel_duration_s(mp4) == pytest.approx(2.0, abs=0.1)
    vtt = _download(api, reel["chapters"], tmp_path / "got.vtt")
    assert chapters(vtt) == [("part-0", 0.0, 1.0, "jump"), ("part-1", 1.0, 2.0, "jump")]
    assert sorted(p.name for p in (api.settings.data_dir / "reels" / reel_id).iterdir()) == ["1"]

    # by segment ids, across labels: [2.3, 2.75) jump and the overlapping run segments [0, 1.5) + [1.2, 2.0)
    ids = [seg_ids["jump", 2.3], seg_ids["run", 0.0], seg_ids["run", 1.2]]
    mixed_id = _queue(api, {"video_id": video_id, "segment_ids": ids}, scope="admin")["reel_id"]
    # by a search query within the video: jump or run, score >= 0.6, overlapping [0, 2): jump [1, 2), run [0, 1.5),
    # run [1.2, 2) -> one part [0, 2) (cuts on keyframes 0 and 20: stream copy)
    query = {"label": ["jump", "run"], "min_score": 0.6, "start_s": 0.0, "end_s": 2.0}
    searched_id = _queue(api, {"video_id": video_id, "query": query})["reel_id"]
    assert api.worker().run(exit_when_idle=True) == 2
    mixed = _get(api, f"/v1/reels/{mixed_id}")
    assert mixed["mode"] == "encode" and [p["label"] for p in mixed["parts"]] == ["run", "jump"]
    assert reel_ids(_download(api, mixed["file"], tmp_path / "mixed.mp4")) == [*range(20), *range(23, 28)]
    searched = _get(api, f"/v1/reels/{searched_id}")
    assert searched["mode"] == "copy" and searched["request"]["query"] == {**query, "max_score": None}
    assert [sorted(p["segments"]) for p in searched["parts"]] == [
        sorted([seg_ids["jump", 1.0], seg_ids["run", 0.0], seg_ids["run", 1.2]])
    ]
    assert reel_ids(_download(api, searched["file"], tmp_path / "searched.mp4")) == list(range(20))

    # deleting the video removes its reels' rows and files
    reel_dirs = [api.settings.data_dir / "reels" / r for r in (reel_id, mixed_id, searched_id)]
    assert all(d.is_dir() for d in reel_dirs)
    deleted = api.client.delete(f"/v1/videos/{video_id}", headers=api.auth("admin")).json()
    assert deleted["deleted"] is True and deleted["reels"] == 3
    assert not any(d.exists() for d in reel_dirs)
    assert api.client.get(f"/v1/reels/{reel_id}", headers=api.auth("read")).status_code == 404


def test_a_reel_job_whose_worker_died_is_rendered_by_another_and_stored_once(api: Api, stored: Any) -> None:
    _, video_id, _ = stored
    reel_id = _queue(api, {"video_id": video_id, "label": "jump"})["reel_id"]
    factory = api.client.app.state.service.factory
    first = claim_job(factory, "worker-that-dies", lease_s=60, max_attempts=3)
    assert first is not None and (first.kind, first.reel_id, first.attempts) == ("reel", reel_id, 1)
    half = api.settings.data_dir / "reels" / reel_id / "1"  # what it had written when it died
    half.mkdir(parents=True)
    (half / "reel.mp4.part").write_bytes(b"\0" * 100)
    assert api.worker().run(exit_when_idle=True) == 0  # still leased: not taken
    with api.session() as session:  # nobody renews: the lease runs out
        session.execute(update(Job).where(Job.id == first.id).values(lease_expires_at=utc_now() - timedelta(seconds=1)))
        session.commit()
    assert api.worker().run(exit_when_idle=True) == 1
    reel = _get(api, f"/v1/reels/{reel_id}")
    job = _get(api, f"/v1/jobs/{first.id}")
    assert (job["status"], job["attempts"], reel["status"], reel["frames"]) == ("SUCCEEDED", 2, "SUCCEEDED", 25)
    assert sorted(p.name for p in (api.settings.data_dir / "reels" / reel_id).iterdir()) == ["2"]
    # the dead worker comes back and finishes its render: nothing stored, its files removed
    outcome = run_reel_job(api.settings, factory, first, "worker-that-dies", lost=threading.Event())
    assert outcome == "lost"
    assert sorted(p.name for p in (api.settings.data_dir / "reels" / reel_id).iterdir()) == ["2"]
    with api.session() as session:
        assert session.scalars(select(Reel.folder)).all() == [f"reels/{reel_id}/2"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # a real process: one database (as the queue's)
def test_a_vidstruct_worker_killed_mid_render_loses_the_reel_to_another_that_stores_it_once(
    api: Api, tmp_path: Path
) -> None:
    """SIGKILL while the worker process is writing the reel (its temporary MP4 exists): the lease expires, a
    worker in this process renders attempt 2, stores it once and removes what the dead one left."""
    # 30 s at 25 fps, 256 x 144, keyframes every 250 frames: cutting [1, 29) s starts off a keyframe, so all 700
    # frames are decoded and re-encoded (seconds of work, while the test watches for the temporary file)
    video = id_video(tmp_path / "long.mp4", 750, 25.0, gop=250, height=144, width=256)
    video_id, _ = _store(api, video, tmp_path, long=(30.0, 1.0, 29.0))
    queued = _queue(api, {"video_id": video_id, "label": "jump"})
    settings, factory = api.settings, api.client.app.state.service.factory
    folder = settings.data_dir / "reels" / queued["reel_id"]
    argv = [sys.executable, "-m", "vidstruct", "worker", "--quiet", "--data-dir", str(settings.data_dir),
            "--profile-dir", str(settings.profile_dirs[0]), "--default-profile", "tiny", "--lease-s", "2",
            "--poll-s", "0.1"]  # fmt: skip
    proc = subprocess.Popen(argv, env={**os.environ, "OMP_NUM_THREADS": "1", "VIDSTRUCT_DB": settings.database_url})
    try:
        end = time.monotonic() + 180
        while not list((folder / "1").glob("*.tmp.mp4")):  # the reel is being written
            assert proc.poll() is None and time.monotonic() < end, "the worker never started writing the reel"
            assert _get(api, f"/v1/jobs/{queued['job_id']}")["status"] in ("QUEUED", "IN_PROGRESS")
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    dead = _get(api, f"/v1/jobs/{queued['job_id']}")
    assert (dead["status"], dead["attempts"]) == ("IN_PROGRESS", 1), "the worker finished before it was killed"
    assert not (folder / "1" / "reel.mp4").exists() and _get(api, f"/v1/reels/{queued['reel_id']}")["file"] is None
    end = time.monotonic() + 60
    while api.worker().run(exit_when_idle=True) == 0:  # taken once the dead worker's 2 s lease has expired
        assert time.monotonic() < end, "the dead worker's lease never expired"
        time.sleep(0.2)
    job = _get(api, f"/v1/jobs/{queued['job_id']}")
    reel = _get(api, f"/v1/reels/{queued['reel_id']}")
    assert (job["status"], job["attempts"], reel["mode"], reel["frames"]) == ("SUCCEEDED", 2, "encode", 700)
    assert sorted(p.name for p in folder.iterdir()) == ["2"]  # the dead attempt's files are gone
    assert reel_ids(_download(api, reel["file"], tmp_path / "reel.mp4")) == list(range(25, 725))
    with factory() as session:
        assert session.scalars(select(Reel.folder)).all() == [f"reels/{queued['reel_id']}/2"]


def test_cancel_a_gone_video_and_the_webhook(api: Api, stored: Any) -> None:
    video, video_id, _ = stored
    canceled = _queue(api, {"video_id": video_id, "label": "run"})
    answer = api.client.delete(f"/v1/jobs/{canceled['job_id']}", headers=api.auth("write"))
    assert answer.status_code == 200 and answer.json()["status"] == "CANCELED"
    assert api.worker().run(exit_when_idle=True) == 0
    assert _get(api, f"/v1/reels/{canceled['reel_id']}")["status"] == "CANCELED"
    _not_yet(api, canceled["reel_id"])

    calls: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        body = {"video_id": video_id, "label": "jump", "webhook_url": hook, "client_request_token": "reel-1"}
        failing = _queue(api, body)
        again = api.client.post("/v1/reels", json=body, headers=api.auth("write"))
        assert again.status_code == 200 and again.json()["reel_id"] == failing["reel_id"]  # the same token
        video.unlink()  # the source goes after the reel was queued: the job fails with one line, no server path
        worker = api.worker()
        assert worker.run(exit_when_idle=True) == 1  # waits for its webhook deliveries before returning
    finally:
        server.shutdown()
        server.server_close()
    job = _get(api, f"/v1/jobs/{failing['job_id']}")
    assert job["status"] == "FAILED" and "not found" in job["error"] and str(video) not in job["error"]
    reel = _get(api, f"/v1/reels/{failing['reel_id']}")
    assert (reel["status"], reel["error"], reel["file"]) == ("FAILED", job["error"], None)
    assert [(c["job_id"], c["status"], c["kind"], c["reel_id"]) for c in calls] == [
        (failing["job_id"], "FAILED", "reel", failing["reel_id"])
    ]
    assert not (api.settings.data_dir / "reels" / failing["reel_id"]).exists()


def test_bad_reel_requests_are_problems(api: Api, stored: Any) -> None:
    video, video_id, _ = stored
    cases = [
        ({"video_id": video_id, "label": "swim"}, 422, "label 'swim' is not in the document"),
        ({"video_id": video_id, "label": "jump", "min_score": 0.99}, 422, "no segment of label 'jump'"),
        ({"video_id": video_id, "label": "jump", "max_s": 0}, 422, "max_s"),
        ({"video_id": video_id, "label": "jump", "max_s": 3601}, 422, "max_s"),
        ({"video_id": video_id, "label": "jump", "segment_ids": [1]}, 422, "exactly one of label, segment_ids and"),
        ({"video_id": video_id}, 422, "exactly one of label, segment_ids and query"),
        ({"video_id": video_id, "segment_ids": [987654]}, 422, "segment 987654 is not a segment"),
        ({"video_id": video_id, "query": {"label": ["swim"]}}, 422, "no segment of video"),
        ({"video_id": video_id, "query": {"min_score": 0.9, "max_score": 0.1}}, 422, "the range is empty"),
        ({"video_id": video_id, "query": {"label": ["a;b"]}}, 422, "query.label"),
        ({"video_id": video_id, "label": "jump", "webhook_url": "ftp://x"}, 422, "http(s) URL"),
        ({"video_id": "0" * 32, "label": "jump"}, 422, "no video with id"),
    ]
    for body, status, detail in cases:
        answer = api.client.post("/v1/reels", json=body, headers=api.auth("write"))
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert detail in json.dumps(answer.json()), (body, answer.text)
    forbidden = api.client.post("/v1/reels", json={"video_id": video_id, "label": "jump"}, headers=api.auth("read"))
    assert forbidden.status_code == 403
    assert api.client.get("/v1/reels/" + "f" * 32, headers=api.auth("read")).status_code == 404
    video.unlink()  # the source is gone: one line, without the server's path
    gone = api.client.post("/v1/reels", json={"video_id": video_id, "label": "jump"}, headers=api.auth("write"))
    assert gone.status_code == 422 and str(video) not in gone.text and "not found" in gone.json()["detail"]
    assert _get(api, "/v1/reels") == {"reels": []} and _get(api, "/v1/jobs")["jobs"] == []
