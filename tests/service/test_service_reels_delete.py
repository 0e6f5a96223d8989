"""Reels' loose ends on SQLite and PostgreSQL: ``DELETE /v1/reels/{id}`` (a write key deletes the reels it made, an
admin key any; the files, the row and a job not finished yet go, audit-logged) and the ``vidstruct_jobs`` gauge
split by job kind. The reel is cut from a stored id video with reelkit's segments, as in test_service_reels.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))  # videokit: id-frame videos
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reels"))  # reelkit: the reel test document

from reelkit import write_doc
from videokit import id_video

from vidstruct.service.auth import create_key
from vidstruct.service.db.models import AuditEntry, Job, Reel, Video
from vidstruct.service.db.session import transaction
from vidstruct.service.db.store import add_analysis
from vidstruct.service.jobs.queue import submit_job

if TYPE_CHECKING:
    from servicekit import Api  # only for the annotations


def _video_with_segments(api: Api, tmp_path: Path) -> str:
    video = id_video(tmp_path / "ids.mp4", 40, 10.0, gop=10)
    document = json.loads(write_doc(tmp_path / "doc", video).read_text())
    with api.session() as session, session.begin():
        row = Video(sha256="f" * 64, path=str(video), stored=False, size_bytes=video.stat().st_size)
        session.add(row)
        session.flush()
        add_analysis(session, document, video_id=row.id, job_id=None, folder="analyses/ids/out")
        return row.id


def _queue(api: Api, video_id: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = api.client.post("/v1/reels", json={"video_id": video_id, "label": "jump"}, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


def _jobs_gauge(api: Api) -> dict[tuple[str, str], float]:
    return {
        (s.labels["kind"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(api.client.get("/metrics").text)
        for s in family.samples
        if s.name == "vidstruct_jobs"
    }


def test_delete_a_reel_by_its_key_or_an_admin(api: Api, tmp_path: Path) -> None:
    video_id = _video_with_segments(api, tmp_path)
    write = api.auth("write")
    with transaction(api.client.app.state.service.factory) as session:
        other_key, _ = create_key(session, "write")
    other = {"Authorization": f"Bearer {other_key}"}
    rendered = _queue(api, video_id, write)
    assert api.worker().run(exit_when_idle=True) == 1
    folder = api.settings.data_dir / "reels" / rendered["reel_id"]
    assert (folder / "1" / "reel.mp4").is_file()
    queued = _queue(api, video_id, write)
    url = f"/v1/reels/{queued['reel_id']}"
    # another write key, a read key: 403, nothing removed
    for headers in (other, api.auth("read")):
        assert api.client.delete(url, headers=headers).status_code == 403
    assert api.client.get(url, headers=api.auth("read")).json()["status"] == "QUEUED"
    # its own key: the queued reel goes and its job is canceled (no worker renders it)
    answer = api.client.delete(url, headers=write)
    assert answer.status_code == 200 and answer.json() == {"reel_id": queued["reel_id"], "deleted": True,
                                                           "job_canceled": True}  # fmt: skip
    assert api.client.get(url, headers=api.auth("read")).status_code == 404
    job = api.client.get(f"/v1/jobs/{queued['job_id']}", headers=api.auth("read")).json()
    assert (job["status"], job["error"]) == ("CANCELED", "the reel was deleted")
    assert api.worker().run(exit_when_idle=True) == 0
    assert not (api.settings.data_dir / "reels" / queued["reel_id"]).exists()
    # an admin deletes another key's rendered reel: the file and the row go, its finished job stays as it was
    url = f"/v1/reels/{rendered['reel_id']}"
    assert api.client.delete(url, headers=other).status_code == 403
    answer = api.client.delete(url, headers=api.auth("admin"))
    assert answer.status_code == 200 and answer.json()["job_canceled"] is False
    assert not folder.exists()
    for tail in ("", "/file", "/chapters"):
        assert api.client.get(url + tail, headers=api.auth("read")).status_code == 404
    assert api.client.delete(url, headers=api.auth("admin")).status_code == 404
    assert api.client.get(f"/v1/jobs/{rendered['job_id']}", headers=api.auth("read")).json()["status"] == "SUCCEEDED"
    with api.session() as session:
        assert session.scalars(select(Reel)).all() == []
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "reel.delete").order_by(AuditEntry.id))
        assert [(a.target, a.detail["job_canceled"]) for a in audit] == [
            (f"reel:{queued['reel_id']}", True),
            (f"reel:{rendered['reel_id']}", False),
        ]


def test_the_jobs_gauge_is_split_by_kind(api: Api, tmp_path: Path) -> None:
    assert set(_jobs_gauge(api).values()) == {0}
    assert {kind for kind, _ in _jobs_gauge(api)} == {"analysis", "reel"}
    video_id = _video_with_segments(api, tmp_path)
    _queue(api, video_id, api.auth("write"))
    assert api.worker().run(exit_when_idle=True) == 1  # the reel
    _queue(api, video_id, api.auth("write"))
    with api.session() as session:
        for _ in range(2):
            submit_job(session, video_id=video_id, features=["shots"], profile="tiny", min_confidence=0.0)
        assert len(session.scalars(select(Job)).all()) == 4
    gauge = _jobs_gauge(api)
    nonzero = {key: value for key, value in gauge.items() if value}
    assert nonzero == {("reel", "SUCCEEDED"): 1, ("reel", "QUEUED"): 1, ("analysis", "QUEUED"): 2}
    assert len(gauge) == 10  # 2 kinds x 5 statuses, zeros included
