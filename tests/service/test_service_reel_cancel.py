"""Stopping a reel mid-cut: the cut asks ``should_stop`` before each frame (both modes) and leaves nothing behind;
``DELETE /v1/jobs/{id}`` of a reel job a real ``vidstruct worker`` is cutting stops the cut (the job stays
``CANCELED``, no file remains, the same worker renders the next reel); SIGTERM gives the reel job back to the
queue; ``DELETE /v1/reels/{id}`` mid-cut (a worker in a thread, SQLite and PostgreSQL) stops it too; Ctrl-C
(SIGINT) stops ``vidstruct reel`` with exit 130 and no partial file.

The processes run the real CLI with one test-only hook (:data:`THROTTLED_CLI`): the frames decoded from a video
whose name starts with ``long`` are counted in a log file and held before frame :data:`HOLD` until a gate file
exists, then slowed to :data:`PAUSE_S` each. So the cut is surely mid-way when the test acts (it waits for the
frames, the temporary file and the stored progress, never for a duration), and the count says how far it got: the
whole reel would take :data:`LONG_FRAMES` x :data:`PAUSE_S` = 45 s after the gate opens, the test's proof that the
cut stopped is that it decoded fewer frames than that. Expected frames follow from the id videos' construction.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from servicekit import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))  # videokit: id-frame videos
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reels"))  # reelkit: the reel test document

from reelkit import reel_ids, write_doc
from videokit import id_video

from vidstruct.io import VideoReader
from vidstruct.pipeline.reels import ReelCanceled, ReelPick, cut_reel
from vidstruct.service.db.models import Segment, Video
from vidstruct.service.db.store import add_analysis
from vidstruct.service.jobs.queue import claim_job

if TYPE_CHECKING:
    from servicekit import Api  # only for the annotations

DEADLINE_S = 180.0
#: frames of the long reel decoded before the hook holds the cut at its gate
HOLD = 5
#: seconds the hook adds to each frame of a long video after its gate opened
PAUSE_S = 0.1
#: the long id video: 20 s at 25 fps, 64 px, keyframes every 250 frames; its ``jump`` segment [1, 19) s holds
#: frames 25..474 and starts off a keyframe, so the reel is decoded and re-encoded frame by frame
LONG_FRAMES = 450

#: ``python -c THROTTLED_CLI GATES LOG HOLD PAUSE_S ARGV...``: ``vidstruct ARGV`` with the hook of the module doc
THROTTLED_CLI = """
import sys, time
from pathlib import Path
from vidstruct.io import VideoReader
gates, log, hold, pause = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
plain = VideoReader.iter_frames
def iter_frames(self, indices):
    name = Path(self.path).name
    for n, item in enumerate(plain(self, indices)):
        if name.startswith("long"):
            if n == hold:
                while not (gates / (name + ".go")).exists():
                    time.sleep(0.01)
            if n >= hold:
                time.sleep(pause)
            with open(log, "a") as fh:
                fh.write(name + "\\n")
        yield item
VideoReader.iter_frames = iter_frames
from vidstruct.cli.main import main
sys.exit(main(sys.argv[5:]))
"""


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return id_video(tmp_path_factory.mktemp("long") / "long.mp4", 500, 25.0, gop=250)


def _throttled(tmp_path: Path, argv: list[str], **kwargs: Any) -> tuple[subprocess.Popen, Path, Path]:
    """``vidstruct argv`` in a process with the hook; returns it, the gates' folder and the frame log."""
    gates, log = tmp_path / "gates", tmp_path / "frames.log"
    gates.mkdir(exist_ok=True)
    cmd = [sys.executable, "-c", THROTTLED_CLI, str(gates), str(log), str(HOLD), str(PAUSE_S), *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **kwargs.pop("env", {})}
    return subprocess.Popen(cmd, env=env, **kwargs), gates, log


def _decoded(log: Path) -> int:
    """Frames of long videos the hook let through so far."""
    return len(log.read_text().splitlines()) if log.exists() else 0


def _long_doc(folder: Path, video: Path, duration_s: float, start_s: float, end_s: float) -> dict[str, Any]:
    """The structure document of ``video`` with one ``jump`` segment ``[start_s, end_s)`` (seconds)."""
    path = write_doc(folder, video)  # reelkit's document (on a 4 s video), then this video's duration and segment
    document = json.loads(path.read_text())
    document["video"]["duration_s"] = duration_s
    document["segments"] = [{**document["segments"][0], "start_s": start_s, "end_s": end_s, "thumbnail": None}]
    path.write_text(json.dumps(document))
    return document


# ----------------------------------------------------------------------------------------------- the cut itself
@pytest.mark.parametrize(
    ("span", "mode", "total", "stop_at"),
    [((1.0, 2.0), "copy", 10, 6), ((2.3, 2.75), "encode", 5, 2)],  # frames 10..19 (keyframe cuts); 23..27
)
def test_should_stop_is_asked_before_each_frame_and_stopping_leaves_nothing(
    tmp_path: Path, span: tuple[float, float], mode: str, total: int, stop_at: int
) -> None:
    video = id_video(tmp_path / "ids.mp4", 40, 10.0, gop=10)
    picks = [ReelPick(span[0], span[1], "jump", 0.9, (0,))]
    out = tmp_path / "out" / "reel.mp4"
    out.parent.mkdir()
    out.write_bytes(b"an older reel")
    asked: list[tuple[int, int]] = []

    def stop_at_frame(done: int, frames: int) -> bool:
        asked.append((done, frames))
        return done == stop_at

    with pytest.raises(ReelCanceled, match=f"after {stop_at} of {total} frames"):
        cut_reel(picks, video, out, stop_at_frame)
    assert asked == [(k, total) for k in range(stop_at + 1)]
    assert [p.name for p in out.parent.iterdir()] == ["reel.mp4"] and out.read_bytes() == b"an older reel"

    asked.clear()
    made = cut_reel(picks, video, out, lambda done, frames: bool(asked.append((done, frames))))
    assert made.plan.mode == mode and asked == [(k, total) for k in range(total)]
    first = round(span[0] * 10)
    assert reel_ids(out) == list(range(first, first + total))
    assert sorted(p.name for p in out.parent.iterdir()) == ["reel.chapters.vtt", "reel.mp4"]


# ---------------------------------------------------------------------------------- a real worker, canceled
def _store(api: Api, video: Path, folder: Path, duration_s: float, span: tuple[float, float], sha: str) -> str:
    """``video`` (a server-side file) with one analysis holding one ``jump`` segment ``span``; returns its id."""
    document = _long_doc(folder, video, duration_s, *span)
    with api.session() as session, session.begin():
        row = Video(sha256=sha * 64, path=str(video), stored=False, size_bytes=video.stat().st_size)
        session.add(row)
        session.flush()
        analysis = add_analysis(session, document, video_id=row.id, job_id=None, folder="analyses/x/out")
        session.flush()
        assert session.query(Segment).filter(Segment.analysis_id == analysis.id).count() == 1
        return row.id


def _queue(api: Api, video_id: str) -> dict[str, Any]:
    answer = api.client.post("/v1/reels", json={"video_id": video_id, "label": "jump"}, headers=api.auth("write"))
    assert answer.status_code == 202, answer.text
    return answer.json()


def _get(api: Api, url: str) -> dict[str, Any]:
    answer = api.client.get(url, headers=api.auth("read"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # a real process (it imports torch): one database
def test_canceling_a_reel_job_mid_cut_stops_the_worker_cutting_it(api: Api, tmp_path: Path, long_video: Path) -> None:
    settings = api.settings
    long_id = _store(api, long_video, tmp_path / "doc-long", 20.0, (1.0, 19.0), "a")
    short = id_video(tmp_path / "short.mp4", 40, 10.0, gop=10)
    short_id = _store(api, short, tmp_path / "doc-short", 4.0, (1.0, 2.0), "b")  # frames 10..19, stream copy
    canceled = _queue(api, long_id)
    job_url = f"/v1/jobs/{canceled['job_id']}"
    reel_dir = settings.data_dir / "reels" / canceled["reel_id"]
    argv = ["worker", "--quiet", "--data-dir", str(settings.data_dir), "--profile-dir", str(settings.profile_dirs[0]),
            "--default-profile", "tiny", "--lease-s", "10", "--poll-s", "0.1"]  # fmt: skip
    proc, gates, log = _throttled(tmp_path, argv, env={"VIDSTRUCT_DB": settings.database_url})
    try:

        def held_mid_cut() -> bool:  # at the gate, writing its temporary MP4, its progress stored
            job = _get(api, job_url)
            assert job["status"] in ("QUEUED", "IN_PROGRESS"), job
            render = job["progress"].get("render", 0.0)
            return _decoded(log) == HOLD and bool(list(reel_dir.glob("1/*.tmp.mp4"))) and 0 < render < 100

        wait_for("the worker is cutting the long reel", held_mid_cut, proc, deadline_s=DEADLINE_S)
        answer = api.client.delete(job_url, headers=api.auth("write"))
        assert answer.status_code == 200 and answer.json()["status"] == "CANCELED", answer.text
        following = _queue(api, short_id)
        (gates / "long.mp4.go").touch()  # the cut goes on: the worker must notice the cancel by itself

        def finished() -> dict[str, Any] | None:
            job = _get(api, f"/v1/jobs/{following['job_id']}")
            return None if job["status"] in ("QUEUED", "IN_PROGRESS") else job

        done = wait_for("the worker renders the next reel", finished, proc, deadline_s=DEADLINE_S)
        assert (done["status"], done["attempts"], done["error"]) == ("SUCCEEDED", 1, None)
        assert proc.poll() is None  # the same worker, still serving
        stopped_at = _decoded(log)
        assert HOLD <= stopped_at < LONG_FRAMES, "the canceled cut ran to its end"

        job = _get(api, job_url)
        assert (job["status"], job["error"], job["attempts"]) == ("CANCELED", None, 1)
        assert 0 < job["progress"]["render"] < 100
        reel = _get(api, f"/v1/reels/{canceled['reel_id']}")
        assert (reel["status"], reel["file"], reel["mode"]) == ("CANCELED", None, None)
        assert _files(reel_dir) == []  # no reel, no chapters, no temporary file
        assert api.client.get(f"/v1/reels/{canceled['reel_id']}/file", headers=api.auth("read")).status_code == 409
        rendered = _get(api, f"/v1/reels/{following['reel_id']}")
        got = tmp_path / "following.mp4"
        got.write_bytes(api.client.get(rendered["file"], headers=api.auth("read")).content)
        assert (rendered["mode"], reel_ids(got)) == ("copy", list(range(10, 20)))

        # a stop request mid-cut: the reel job goes back to the queue, nothing of it stays, the worker exits 0
        (gates / "long.mp4.go").unlink()
        again = _queue(api, long_id)
        again_dir = settings.data_dir / "reels" / again["reel_id"]

        def held_again() -> bool:
            return _decoded(log) == stopped_at + HOLD and bool(list(again_dir.glob("1/*.tmp.mp4")))

        wait_for("the worker is cutting the second long reel", held_again, proc, deadline_s=DEADLINE_S)
        proc.send_signal(signal.SIGTERM)
        (gates / "long.mp4.go").touch()
        code = proc.wait(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert code == 0
    assert _decoded(log) < stopped_at + LONG_FRAMES, "the stopping worker cut the whole reel"
    released = _get(api, f"/v1/jobs/{again['job_id']}")
    assert (released["status"], released["attempts"], released["progress"]) == ("QUEUED", 0, {})
    assert _get(api, f"/v1/reels/{again['reel_id']}")["status"] == "QUEUED"
    assert _files(again_dir) == []


def test_deleting_a_reel_mid_cut_stops_its_render(
    api: Api, tmp_path: Path, long_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same hook in this process: ``DELETE /v1/reels/{id}`` while a worker's thread is cutting it."""
    gate, decoded = threading.Event(), [0]
    plain = VideoReader.iter_frames

    def held(self: VideoReader, indices: Any) -> Any:
        for n, item in enumerate(plain(self, indices)):
            if n == HOLD:
                assert gate.wait(DEADLINE_S), "the test never opened the gate"
            if n >= HOLD:
                time.sleep(PAUSE_S)
            decoded[0] += 1
            yield item

    monkeypatch.setattr(VideoReader, "iter_frames", held)
    queued = _queue(api, _store(api, long_video, tmp_path / "doc", 20.0, (1.0, 19.0), "c"))
    reel_dir = api.settings.data_dir / "reels" / queued["reel_id"]
    worker = api.worker()
    job = claim_job(worker.factory, worker.id, lease_s=api.settings.lease_s, max_attempts=3)
    assert job is not None and job.id == queued["job_id"]
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(worker.process(job)), daemon=True)
    thread.start()
    try:
        wait_for("the worker is cutting", lambda: decoded[0] == HOLD and list(reel_dir.glob("1/*.tmp.mp4")))
        answer = api.client.delete(f"/v1/reels/{queued['reel_id']}", headers=api.auth("write"))
        assert answer.status_code == 200 and answer.json()["job_canceled"] is True, answer.text
    finally:
        gate.set()
        thread.join(DEADLINE_S)
    assert outcome == ["lost"] and decoded[0] < LONG_FRAMES
    job_view = _get(api, f"/v1/jobs/{queued['job_id']}")
    assert (job_view["status"], job_view["error"]) == ("CANCELED", "the reel was deleted")
    assert _files(reel_dir) == []


# ------------------------------------------------------------------------------------------- the CLI, Ctrl-C
def test_ctrl_c_stops_vidstruct_reel_and_leaves_no_partial_file(tmp_path: Path, long_video: Path) -> None:
    _long_doc(tmp_path / "analysis", long_video, 20.0, 1.0, 19.0)
    out = tmp_path / "out"
    out.mkdir()
    (out / "reel.mp4").write_bytes(b"an older reel")
    argv = ["reel", str(tmp_path / "analysis"), "--label", "jump", "--out", str(out / "reel.mp4")]
    proc, _, log = _throttled(tmp_path, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(
            "the reel is being written",
            lambda: _decoded(log) == HOLD and list(out.glob("*.tmp.mp4")),
            proc,
            deadline_s=DEADLINE_S,
        )
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.splitlines()[-1] == "error: interrupted", err
    assert [p.name for p in out.iterdir()] == ["reel.mp4"] and (out / "reel.mp4").read_bytes() == b"an older reel"
    assert not (out / "reel.chapters.vtt").exists()
