"""``vidstruct index`` into the service's database (SQLite and PostgreSQL): 3 videos stored as a finished job
stores them and found by the service's search API, a corrupt file reported while the others go on; a rerun skips
everything and writes nothing; the storing transaction is exactly-once by its key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from indexkit import GOOD, POLICY, counts, index_argv, migrated, service_conftest, service_settings, session_on
from servicekit import CLASSES, CONSTANT_PROB
from sqlalchemy import select

from vidstruct.cli.main import main
from vidstruct.service.db.models import Analysis, IndexedVideo, Job, Video, new_id
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.indexing.store import store_indexed
from vidstruct.service.jobs.intake import new_video


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_index_stores_searchable_results_and_a_rerun_skips_everything(
    db_url: str, collection: Path, profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(db_url)
    data = tmp_path / "data"
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    code, report = _run(index_argv(collection, db_url, data, profiles, "--policy", str(policy)), capsys)
    assert code == 1  # one video failed
    assert sorted(r["name"] for r in report["indexed"]) == GOOD and report["skipped"] == []
    [failed] = report["failed"]
    assert failed["name"] == "broken" and failed["reason"] and "\n" not in failed["reason"]
    first = counts(db_url)
    # 3 videos, one analysis and one SUCCEEDED job each; two shots per video (one cut), the constant model's
    # "walk" over both: two segments per video, each flagged by the policy
    assert {k: first[k] for k in ("videos", "analyses", "jobs", "indexed_videos")} == dict.fromkeys(
        ("videos", "analyses", "jobs", "indexed_videos"), 3
    )
    assert first["segments"] == 6 and first["moderation_flags"] == 6
    with session_on(db_url) as session:
        jobs = session.scalars(select(Job)).all()
        shown = {(j.status, j.job_tag, j.profile, j.attempts) for j in jobs}
        assert shown == {("SUCCEEDED", "vidstruct-index", "tiny", 1)}
        analyses = session.scalars(select(Analysis)).all()
        assert {a.job_id for a in analyses} == {j.id for j in jobs} and {j.analysis_id for j in jobs} == {
            a.id for a in analyses
        }
        videos = {v.filename: v for v in session.scalars(select(Video)).all()}
        assert sorted(videos) == [f"{n}.mp4" for n in GOOD] and not any(v.stored for v in videos.values())
        assert {Path(v.path) for v in videos.values()} == {(collection / f"{n}.mp4").resolve() for n in GOOD}
        for a in analyses:  # thumbnails and embeddings in the data folder
            folder = data / a.folder
            assert (folder / "embeddings.npy").is_file()
            assert all((folder / t["path"]).is_file() for t in a.document["thumbnails"])
    suffixes = {p.suffix for p in (data / "indexes").iterdir()}  # similar index synced: graph, manifest, segments
    assert {".json", ".usearch"} <= suffixes <= {".json", ".usearch", ".npz", ".lock", ".build"}

    # the service over the same database serves and searches them
    for api in service_conftest.make_api(service_settings(db_url, data, profiles)):
        found = api.client.get("/v1/search", params={"label": "walk", "max_results": 50}, headers=api.auth("read"))
        assert found.status_code == 200, found.text
        hits = found.json()["hits"]
        assert len(hits) == 6 and {h["video_id"] for h in hits} == {v.id for v in videos.values()}
        assert all(h["label"] == CLASSES[0] and h["score"] == pytest.approx(CONSTANT_PROB, abs=1e-4) for h in hits)
        listed = api.client.get("/v1/jobs", params={"job_tag": "vidstruct-index"}, headers=api.auth("read")).json()
        assert len(listed["jobs"]) == 3
        vid = videos["b.mp4"].id
        similar = api.client.post(
            "/v1/search/similar", json={"video_id": vid, "start_s": 0.0, "end_s": 1.0}, headers=api.auth("read")
        )
        assert similar.status_code == 200, similar.text
        # every indexed window is in the similar-moments index; moments come from the other two videos
        assert similar.json()["index"]["size"] == first["windows"] > 0
        assert {m["video_id"] for m in similar.json()["moments"]} == {videos["a.mp4"].id, videos["c.mp4"].id}

    # rerun: every good video skipped before decoding, the corrupt one fails again, nothing written
    code, again = _run(index_argv(collection, db_url, data, profiles, "--policy", str(policy)), capsys)
    assert code == 1 and again["indexed"] == [] and sorted(r["name"] for r in again["skipped"]) == GOOD
    assert [r["name"] for r in again["failed"]] == ["broken"]
    assert counts(db_url) == first


def test_the_storing_transaction_is_exactly_once_by_its_key(db_url: str, tmp_path: Path) -> None:
    """Two writers of one (content, profile hash) key, the second after the first committed (a retried task, a
    second run): the second stores nothing, and a different profile hash is a different key."""
    migrated(db_url)
    engine = make_engine(db_url)
    factory = session_factory(engine)
    with factory() as session:
        video = new_video("f" * 64, "/videos/x.mp4", stored=False, size=1, info={}, filename="x.mp4")
        session.add(video)
        session.commit()
    doc = {"profile": {"name": "tiny", "sha256": "1" * 64}, "models": {}, "segments": [], "thumbnails": []}

    def store(document: dict) -> bool:
        return store_indexed(
            factory, job_id=new_id(), video_id=video.id, sha256=video.sha256, profile_name="tiny", document=document,
            folder="analyses/x", features=("segments",), job_tag="t", started_at=None,
        ) is not None  # fmt: skip

    assert store(doc) is True
    assert store(doc) is False
    assert store({**doc, "profile": {"name": "tiny", "sha256": "2" * 64}}) is True
    with factory() as session:
        keys = session.scalars(select(IndexedVideo)).all()
        assert sorted(k.profile_sha256[0] for k in keys) == ["1", "2"]
        assert len(session.scalars(select(Analysis)).all()) == 2 and len(session.scalars(select(Job)).all()) == 2
        assert {k.analysis_id for k in keys} == set(session.scalars(select(Analysis.id)).all())
    engine.dispose()
