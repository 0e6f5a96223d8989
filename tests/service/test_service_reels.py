"""``/v1/reels`` on SQLite and PostgreSQL: a reel of a stored id video (frame ``i`` shows ``i``) rendered,
listed, downloaded and decoded; chapters read back; bad requests answered as problem JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))  # videokit: id-frame videos
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reels"))  # reelkit: the reel test document

from reelkit import chapters, reel_duration_s, reel_ids, write_doc
from videokit import id_video

from vidstruct.service.db.models import Segment, Video
from vidstruct.service.db.store import add_analysis

if TYPE_CHECKING:
    from conftest import Api  # tests/service/conftest.py (only for the annotations)


def _store(api: Api, video: Path, tmp_path: Path) -> tuple[str, dict[tuple[str, float], int]]:
    """The id video (a server-side file) with one analysis of reelkit's segments; returns its id and
    (label, start_s) -> segment row id."""
    document = json.loads(write_doc(tmp_path / "doc", video).read_text())
    with api.session() as session, session.begin():
        row = Video(sha256="e" * 64, path=str(video), stored=False, size_bytes=video.stat().st_size)
        session.add(row)
        session.flush()
        analysis = add_analysis(session, document, video_id=row.id, job_id=None, folder="analyses/ids/out")
        session.flush()
        segs = session.query(Segment).filter(Segment.analysis_id == analysis.id).all()
        return row.id, {(s.label, s.start_s): s.id for s in segs}


def _download(api: Api, url: str, path: Path) -> Path:
    answer = api.client.get(url, headers=api.auth("read"))
    assert answer.status_code == 200, answer.text
    path.write_bytes(answer.content)
    return path


def test_a_reel_is_rendered_listed_and_downloadable(api: Api, tmp_path: Path) -> None:
    video = id_video(tmp_path / "ids.mp4", 40, 10.0, gop=10)
    video_id, seg_ids = _store(api, video, tmp_path)
    body = {"video_id": video_id, "label": "jump", "min_score": 0.75}
    answer = api.client.post("/v1/reels", json=body, headers=api.auth("write"))
    assert answer.status_code == 201, answer.text
    reel = answer.json()
    assert reel["mode"] == "copy" and reel["frames"] == 20 and reel["duration_s"] == 2.0
    assert [p["segments"] for p in reel["parts"]] == [[seg_ids["jump", 1.0]], [seg_ids["jump", 3.0]]]
    assert api.client.get(f"/v1/reels/{reel['reel_id']}", headers=api.auth("read")).json() == reel
    listed = api.client.get("/v1/reels", params={"video_id": video_id}, headers=api.auth("read")).json()
    assert [r["reel_id"] for r in listed["reels"]] == [reel["reel_id"]]
    mp4 = _download(api, reel["file"], tmp_path / "got.mp4")
    assert reel_ids(mp4) == [*range(10, 20), *range(30, 40)]
    assert reel_duration_s(mp4) == pytest.approx(2.0, abs=0.1)
    vtt = _download(api, reel["chapters"], tmp_path / "got.vtt")
    assert chapters(vtt) == [("part-0", 0.0, 1.0, "jump"), ("part-1", 1.0, 2.0, "jump")]

    # by segment ids, across labels: [2.3, 2.75) jump and the overlapping run segments [0, 1.5) + [1.2, 2.0)
    ids = [seg_ids["jump", 2.3], seg_ids["run", 0.0], seg_ids["run", 1.2]]
    answer = api.client.post("/v1/reels", json={"video_id": video_id, "segment_ids": ids}, headers=api.auth("admin"))
    assert answer.status_code == 201, answer.text
    mixed = answer.json()
    assert mixed["mode"] == "encode" and [p["label"] for p in mixed["parts"]] == ["run", "jump"]
    assert reel_ids(_download(api, mixed["file"], tmp_path / "mixed.mp4")) == [*range(20), *range(23, 28)]

    # deleting the video removes its reels' rows and files
    reel_dirs = [api.settings.data_dir / "reels" / r["reel_id"] for r in (reel, mixed)]
    assert all(d.is_dir() for d in reel_dirs)
    deleted = api.client.delete(f"/v1/videos/{video_id}", headers=api.auth("admin")).json()
    assert deleted["deleted"] is True and deleted["reels"] == 2
    assert not any(d.exists() for d in reel_dirs)
    assert api.client.get(f"/v1/reels/{reel['reel_id']}", headers=api.auth("read")).status_code == 404


def test_bad_reel_requests_are_problems(api: Api, tmp_path: Path) -> None:
    video = id_video(tmp_path / "ids.mp4", 40, 10.0, gop=10)
    video_id, _ = _store(api, video, tmp_path)
    cases = [
        ({"video_id": video_id, "label": "swim"}, 422, "label 'swim' is not in the document"),
        ({"video_id": video_id, "label": "jump", "min_score": 0.99}, 422, "no segment of label 'jump'"),
        ({"video_id": video_id, "label": "jump", "max_s": 0}, 422, "max_s"),
        ({"video_id": video_id, "label": "jump", "segment_ids": [1]}, 422, "exactly one of label and segment_ids"),
        ({"video_id": video_id, "segment_ids": [987654]}, 422, "segment 987654 is not a segment"),
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
    assert api.client.get("/v1/reels", headers=api.auth("read")).json() == {"reels": []}
