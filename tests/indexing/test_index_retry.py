"""``vidstruct index``: what is tried again, and what a failure leaves behind.

- a video that probes fine but fails analysis (its tail is corrupt) leaves no row: only indexed videos are in the
  collection (the API's job listing, which the web page "Videos" shows, and search), and a rerun tries it again;
- the storing transaction adds the video row, or uses one registered meanwhile (the document then names it);
- the same job id run again after its process died (it had committed) reports the video indexed, stores nothing;
- the process pool (``--workers 2``, a subprocess: its forkserver inherits the test hook's variable): a worker
  SIGKILLed after analysing ``b`` (the first time) → ``b`` is retried, every video stored exactly once; a worker
  killed by ``b`` every time → ``b`` is run exactly twice, reported failed, the others stored once;
- ``--server``: jobs that failed on the server (the profile's checkpoint missing) are retried by a rerun under the
  next attempt's token (not beyond the bound on attempts); two reruns at once make one new job per content (two
  files of one content share it); a third run skips everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from indexkit import GOOD, counts, index_argv, migrated, running_serve, service_conftest, service_settings, session_on
from servicekit import cut_video, wait_for, write_profile
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.cli.main import main
from vidstruct.io import probe
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.service.db.models import Analysis, Job, Video, new_id
from vidstruct.service.db.session import make_engine, session_factory, transaction
from vidstruct.service.indexing import KILL_ONCE_ENV, IndexTarget, VideoIndexer, index_via_server, remote
from vidstruct.service.indexing.store import NewVideo, store_indexed
from vidstruct.service.jobs.intake import new_video

DEADLINE_S = 300.0
FOUR = ("videos", "analyses", "jobs", "indexed_videos")


def _damaged(src: Path, dst: Path) -> Path:
    """A copy of ``src`` whose last 30 % of coded frame data is overwritten (0xFF): its header and first frames
    decode (it probes fine), a later frame does not (the analysis fails)."""
    data = bytearray(src.read_bytes())
    start, end = data.find(b"mdat"), data.find(b"moov") - 4  # the encoder writes the frames first, then the index
    assert 0 < start < end
    cut = start + 4 + int(0.7 * (end - start - 4))
    data[cut:end] = b"\xff" * (end - cut)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(data))
    assert probe(dst).num_frames == 20  # probes fine: the failure is the analysis's
    return dst


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_a_video_that_fails_analysis_leaves_no_row_and_is_tried_again(
    db_url: str, collection: Path, profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(db_url)
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(collection / "a.mp4", folder / "a.mp4")
    _damaged(collection / "b.mp4", folder / "damaged.mp4")
    data = tmp_path / "data"
    code, report = _run(index_argv(folder, db_url, data, profiles), capsys)
    assert code == 1 and [r["name"] for r in report["indexed"]] == ["a"] and report["skipped"] == []
    [failed] = report["failed"]
    assert failed["name"] == "damaged" and "could not be decoded" in failed["reason"]
    assert failed["video_id"] is None  # no row to name
    rows = counts(db_url)
    assert {k: rows[k] for k in FOUR} == dict.fromkeys(FOUR, 1)
    with session_on(db_url) as session:
        assert [v.filename for v in session.scalars(select(Video)).all()] == ["a.mp4"]
    assert len(list((data / "analyses").iterdir())) == 1  # the failed analysis's folder was removed

    # the collection as the API and the web page "Videos" (succeeded jobs) show it: a only
    a_id = report["indexed"][0]["video_id"]
    for api in service_conftest.make_api(service_settings(db_url, data, profiles)):
        jobs = api.client.get("/v1/jobs", params={"status": "SUCCEEDED"}, headers=api.auth("read")).json()["jobs"]
        assert [j["video_id"] for j in jobs] == [a_id]
        hits = api.client.get("/v1/search", params={"label": "walk"}, headers=api.auth("read")).json()["hits"]
        assert len(hits) == 2 and {h["video_id"] for h in hits} == {a_id}

    # a rerun skips a and tries the damaged video again (it fails again), writing nothing
    code, again = _run(index_argv(folder, db_url, data, profiles), capsys)
    assert code == 1 and [r["name"] for r in again["skipped"]] == ["a"] and again["indexed"] == []
    assert [r["name"] for r in again["failed"]] == ["damaged"] and counts(db_url) == rows


def _document(video_id: str) -> dict:
    """The parts of a structure document that storing reads (no segments, windows or thumbnails)."""
    return {"profile": {"name": "tiny", "sha256": "1" * 64}, "video": {"id": video_id}, "models": {},
            "segments": [], "thumbnails": []}  # fmt: skip


def _store(factory: sessionmaker[Session], folder: Path, sha: str, proposed: str, document: dict) -> str | None:
    return store_indexed(
        factory, job_id=new_id(), video_id=proposed, sha256=sha, profile_name="tiny", document=document,
        folder=f"analyses/{proposed}", features=("segments",), job_tag="t", started_at=None,
        new=NewVideo(folder / f"{sha[0]}.mp4", 123, {"duration_s": 2.0, "width": 64}),
    )  # fmt: skip


def test_the_storing_transaction_adds_the_row_or_uses_one_registered_meanwhile(db_url: str, tmp_path: Path) -> None:
    migrated(db_url)
    engine = make_engine(db_url)
    factory = session_factory(engine)

    def store(sha: str, proposed: str, document: dict) -> str | None:
        return _store(factory, tmp_path, sha, proposed, document)

    # no row for the content: added with the proposed id, from the file's probe
    doc = _document("p" * 32)
    assert store("a" * 64, "p" * 32, doc) == "p" * 32
    # a row registered while the video was analysed (an upload of the same bytes): used, and the document says so
    with transaction(factory) as session:
        session.add(new_video("b" * 64, "videos/up.mp4", stored=True, size=9, info={}, filename="up.mp4"))
    with factory() as session:
        uploaded = session.scalar(select(Video).where(Video.sha256 == "b" * 64)).id
    doc_b = _document("q" * 32)
    assert store("b" * 64, "q" * 32, doc_b) == uploaded and doc_b["video"]["id"] == uploaded
    # the key stored already: nothing stored, no row added
    assert store("a" * 64, "r" * 32, _document("r" * 32)) is None
    with factory() as session:
        rows = {v.sha256[0]: v for v in session.scalars(select(Video)).all()}
        assert sorted(rows) == ["a", "b"] and rows["a"].id == "p" * 32
        a = rows["a"]
        assert (a.path, a.stored, a.size_bytes, a.filename) == (str(tmp_path / "a.mp4"), False, 123, "a.mp4")
        assert (rows["b"].path, rows["b"].stored) == ("videos/up.mp4", True)  # the upload's row, untouched
        stored = {a.video_id: a.document["video"]["id"] for a in session.scalars(select(Analysis)).all()}
        assert stored == {"p" * 32: "p" * 32, uploaded: uploaded}
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_row_inserted_by_a_concurrent_transaction_is_used(db_url: str, tmp_path: Path) -> None:
    """PostgreSQL: the same content registered by a transaction still open when the storing transaction looks
    for a row: its insert waits for the other one, fails on the unique content hash, and it stores again using
    that row. The other transaction commits only once the storing one waits on its lock (no timing race)."""
    migrated(db_url)
    engine = make_engine(db_url)
    factory = session_factory(engine)
    holder = factory()
    holder.add(new_video("c" * 64, "videos/up.mp4", stored=True, size=9, info={}, filename="up.mp4"))
    holder.flush()  # inserted, not committed: invisible to the storing transaction, its unique key held
    other = holder.scalar(select(Video.id))
    result: dict[str, str | None] = {}
    doc = _document("s" * 32)
    thread = threading.Thread(target=lambda: result.update(id=_store(factory, tmp_path, "c" * 64, "s" * 32, doc)))
    thread.start()
    waiting = text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                   "WHERE NOT l.granted AND a.datname = current_database()")  # fmt: skip
    try:
        with engine.connect() as conn:
            wait_for("the storing transaction to wait for the other one", lambda: conn.execute(waiting).scalar(),
                     deadline_s=DEADLINE_S, poll_s=0.05)  # fmt: skip
    finally:
        holder.commit()
        holder.close()
        thread.join(timeout=DEADLINE_S)
    assert result == {"id": other} and doc["video"]["id"] == other
    with factory() as session:
        assert session.scalars(select(Video.id)).all() == [other]
        [analysis] = session.scalars(select(Analysis)).all()
        assert (analysis.video_id, analysis.document["video"]["id"]) == (other, other)
    engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_same_job_run_again_after_it_committed_reports_indexed(
    db_url: str, collection: Path, profiles: Path, tmp_path: Path
) -> None:
    """A pool worker killed after its commit, before its result came back: the retry (same job id) finds its own
    stored analysis and reports the video indexed; another job id finds it indexed by someone else."""
    migrated(db_url)
    data = tmp_path / "data"
    profile, composed = load_profile(profiles / "tiny.yaml")
    settings = analyze_settings(profile, composed, name="tiny", report=False)
    indexer = VideoIndexer(IndexTarget(db_url, str(data), "tiny"), settings)
    try:
        path = str(collection / "c.mp4")
        first = indexer.index("c", path, job_id="1" * 32)
        rows = counts(db_url)
        again = indexer.index("c", path, job_id="1" * 32)
        other = indexer.index("c", path, job_id="2" * 32)
    finally:
        indexer.close()
    assert (first["status"], first["job_id"], first["segments"]) == ("indexed", "1" * 32, 2)
    assert {k: again[k] for k in ("status", "job_id", "video_id", "segments")} == {
        k: first[k] for k in ("status", "job_id", "video_id", "segments")
    }
    assert (other["status"], other["job_id"]) == ("skipped", None)
    assert counts(db_url) == rows and {k: rows[k] for k in FOUR} == dict.fromkeys(FOUR, 1)
    assert [p.name for p in (data / "analyses").iterdir()] == ["1" * 32]


def _index_in_subprocess(db_url: str, collection: Path, data: Path, profiles: Path, hook: str) -> tuple[int, dict]:
    argv = [sys.executable, "-m", "vidstruct", *index_argv(collection, db_url, data, profiles, "--workers", "2")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", KILL_ONCE_ENV: hook}
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True, timeout=DEADLINE_S)
    return proc.returncode, json.loads(proc.stdout)


def _one_folder_per_analysis(data: Path, expected: int) -> None:
    jobs = list((data / "analyses").iterdir())
    assert len(jobs) == expected and all(len(list(job.iterdir())) == 1 for job in jobs)  # nothing left beside


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_pool_worker_killed_once_is_retried_and_every_video_stored_once(
    db_url: str, collection: Path, profiles: Path, tmp_path: Path
) -> None:
    migrated(db_url)
    marker = tmp_path / "b-killed"
    code, report = _index_in_subprocess(db_url, collection, tmp_path / "data", profiles, f"b:{marker}")
    assert marker.exists() and not Path(f"{marker}.2").exists()  # b's first run did kill its worker
    assert code == 1 and sorted(r["name"] for r in report["indexed"]) == GOOD and report["skipped"] == []
    assert [r["name"] for r in report["failed"]] == ["broken"]
    rows = counts(db_url)
    assert (rows["videos"], rows["analyses"], rows["jobs"], rows["indexed_videos"], rows["segments"]) == (3, 3, 3, 3, 6)
    # b's retry wrote into the folder its killed run had left (the job and video ids are the same)
    _one_folder_per_analysis(tmp_path / "data", 3)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_video_that_kills_its_worker_every_time_fails_after_one_retry(
    db_url: str, collection: Path, profiles: Path, tmp_path: Path
) -> None:
    migrated(db_url)
    marker = tmp_path / "b-killed"
    code, report = _index_in_subprocess(db_url, collection, tmp_path / "data", profiles, f"b:{marker}:5")
    # b ran twice: in the pool, then alone; both runs killed their worker
    assert [p.name for p in sorted(tmp_path.glob("b-killed*"))] == ["b-killed", "b-killed.2"]
    assert code == 1 and sorted(r["name"] for r in report["indexed"]) == ["a", "c"] and report["skipped"] == []
    failed = {r["name"]: r["reason"] for r in report["failed"]}
    assert sorted(failed) == ["b", "broken"]
    assert failed["b"].startswith("worker process died (killed by SIGKILL) while indexing this video alone")
    rows = counts(db_url)
    assert (rows["videos"], rows["analyses"], rows["jobs"], rows["indexed_videos"], rows["segments"]) == (2, 2, 2, 2, 4)
    with session_on(db_url) as session:
        assert sorted(v.filename for v in session.scalars(select(Video)).all()) == ["a.mp4", "c.mp4"]
    _one_folder_per_analysis(tmp_path / "data", 2)  # b's folder, left by its killed runs, was removed


@pytest.fixture
def flaky_server(collection: Path, tmp_path: Path) -> Iterator[tuple[str, str, str, Path]]:
    """``(base URL, write key, database URL, checkpoint)`` of a running ``vidstruct serve`` whose profile
    ``flaky`` names the checkpoint ``checkpoint``, missing until the test creates it: its jobs fail meanwhile."""
    profile_dir = tmp_path / "profiles"
    profile_dir.mkdir()
    checkpoint = profile_dir / "flaky.pt"
    write_profile(profile_dir / "flaky.yaml", checkpoint)
    with running_serve(tmp_path / "data", profile_dir, "flaky", collection, DEADLINE_S) as (base, key, db_url):
        yield base, key, db_url, checkpoint


def test_a_rerun_retries_the_videos_whose_server_jobs_failed(
    flaky_server: tuple[str, str, str, Path], collection: Path, profiles: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    base, key, db_url, checkpoint = flaky_server
    outside = cut_video(tmp_path / "elsewhere" / "d.mp4", 2.0, cut_s=0.8)  # not under --allow-root: uploaded
    same_as_a = shutil.copy(collection / "a.mp4", tmp_path / "elsewhere" / "a2.mp4")  # a's content: a's jobs
    videos = {"a": str(collection / "a.mp4"), "a2": str(same_as_a), "d": str(outside)}

    def run() -> dict:
        return index_via_server(base, key, videos, profile="flaky", timeout_s=DEADLINE_S, poll_max_s=0.5).to_dict()

    first = run()  # the checkpoint is missing: both jobs fail on the server
    assert first["indexed"] == first["skipped"] == [] and sorted(r["name"] for r in first["failed"]) == [
        "a", "a2", "d"
    ]  # fmt: skip
    assert all(r["reason"].startswith("job FAILED: ") and "flaky.pt" in r["reason"] for r in first["failed"])
    failed_jobs = {r["name"]: r["job_id"] for r in first["failed"]}
    assert failed_jobs["a2"] == failed_jobs["a"] != failed_jobs["d"]  # one job per content

    with monkeypatch.context() as patch:  # the attempts are bounded: with one allowed, nothing is retried
        patch.setattr(remote, "MAX_ATTEMPTS", 1)
        bounded = run()
    assert {r["name"]: r["reason"] for r in bounded["failed"]} == {
        name: f"all 1 attempts of this video ended without results (the last: job {job_id} FAILED): not retried"
        for name, job_id in failed_jobs.items()
    }

    checkpoint.symlink_to(profiles / "constant.pt")  # fixed: a rerun must try them again
    reports: list[dict] = []
    threads = [threading.Thread(target=lambda: reports.append(run())) for _ in range(2)]  # two clients at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE_S)
    assert len(reports) == 2 and all(r["failed"] == [] for r in reports)
    # one new job per content: one client made it (indexed), the other got it back by its token (skipped), and
    # a2 got a's job back in each client
    indexed = sorted((r["name"], r["job_id"]) for rep in reports for r in rep["indexed"])
    skipped = sorted((r["name"], r["job_id"]) for rep in reports for r in rep["skipped"])
    assert [n for n, _ in indexed] == ["a", "d"]
    a_job = indexed[0][1]
    assert skipped == sorted([*indexed, ("a2", a_job), ("a2", a_job)])
    for rep in reports:
        for r in rep["indexed"]:
            assert r["reason"] == f"retried: job {failed_jobs[r['name']]} FAILED"

    third = run()  # everything skipped: the succeeded jobs, no new one
    assert third["indexed"] == [] and third["failed"] == []
    assert sorted((r["name"], r["job_id"]) for r in third["skipped"]) == sorted([*indexed, ("a2", a_job)])
    with session_on(db_url) as session:
        jobs = session.scalars(select(Job)).all()
        by_status = sorted((j.status, j.id) for j in jobs)
        tokens = {j.id: j.client_request_token for j in jobs}
        sha = {v.id: v.sha256 for v in session.scalars(select(Video)).all()}
        video_of = {j.id: j.video_id for j in jobs}
    assert [s for s, _ in by_status] == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    # attempt 1's token (as before attempts were numbered) named the failed jobs, attempt 2's the retries
    for job_id in failed_jobs.values():
        plain = f"vidstruct-index/1\0{sha[video_of[job_id]]}\0flaky"
        assert tokens[job_id] == hashlib.sha256(plain.encode()).hexdigest()
    for _, job_id in indexed:
        plain = f"vidstruct-index/1\0{sha[video_of[job_id]]}\0flaky" + "\0" + "2"
        assert tokens[job_id] == hashlib.sha256(plain.encode()).hexdigest()
