"""The queue under concurrent claims (threads, each with its own connections), on SQLite and PostgreSQL: every
job is claimed by exactly one worker; re-analysis keeps readers on the old results until the new ones commit;
a job's features choose what is indexed."""

from __future__ import annotations

import threading
from collections import Counter

from servicekit import Api
from sqlalchemy import select

from vidstruct.service.db.models import Video
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.jobs.queue import claim_job, release_job, submit_job
from vidstruct.service.settings import ServiceSettings


def test_concurrent_claims_take_each_job_once(settings: ServiceSettings) -> None:
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    with factory() as session:
        video = Video(sha256="b" * 64, path="/nowhere.mp4", stored=False, size_bytes=1, probe={}, tags=[])
        session.add(video)
        session.commit()
        for _ in range(12):
            submit_job(session, video_id=video.id, features=["shots"], profile="tiny", min_confidence=0.0)
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        start.wait()
        while (job := claim_job(factory, name, lease_s=60, max_attempts=3)) is not None:
            with lock:
                claimed.append((job.id, name))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ids = Counter(job_id for job_id, _ in claimed)
    assert len(ids) == 12 and set(ids.values()) == {1}  # every job, each exactly once
    engine.dispose()


def test_re_analysis_keeps_the_old_results_until_the_new_ones_commit(api: Api, video_bytes: bytes) -> None:
    c, read = api.client, api.auth("read")
    files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
    first = c.post("/v1/jobs", headers=api.auth("write"), files=files).json()["job_id"]
    assert api.worker().run(exit_when_idle=True) == 1
    video_id = c.get(f"/v1/jobs/{first}", headers=read).json()["video_id"]
    old = c.get(f"/v1/videos/{video_id}", headers=read).json()["analysis"]["analysis_id"]
    second = c.post("/v1/jobs", headers=api.auth("write"), files=files, data={"features": "shots"}).json()["job_id"]
    assert second != first
    factory = c.app.state.service.factory
    assert claim_job(factory, "busy", lease_s=60, max_attempts=3).id == second  # the re-analysis is under way
    during = c.get(f"/v1/videos/{video_id}/segments", headers=read).json()
    assert during["analysis_id"] == old and len(during["segments"]) == 2
    assert release_job(factory, second, "busy")
    assert api.worker().run(exit_when_idle=True) == 1
    after = c.get(f"/v1/videos/{video_id}", headers=read).json()
    assert after["analyses"] == 2 and after["analysis"]["analysis_id"] != old
    assert after["analysis"]["job_id"] == second
    # the new analysis ran and indexed only what its job asked for (shots): no recognition, so no segments
    segments = c.get(f"/v1/videos/{video_id}/segments", headers=read).json()
    assert segments["analysis_id"] == after["analysis"]["analysis_id"] and segments["segments"] == []
    assert len(c.get(f"/v1/videos/{video_id}/shots", headers=read).json()["shots"]) == 2
    document = c.get(f"/v1/videos/{video_id}/structure", headers=read).json()
    assert document["segments"] == [] and "recognition" in document["stages"]["skipped"]
    with api.session() as session:
        assert len(session.scalars(select(Video)).all()) == 1
