"""``GET /v1/videos``: every video listed once in the asked order, what each item says (checked against what the
test stored, worked out here independently), filters, refusals, and a bounded number of SQL statements a page.
On SQLite and PostgreSQL (the ``api`` fixture)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from servicekit import Api, analyse_uploads
from sqlalchemy import event

from vidstruct.service.db.models import Analysis, Job, ModerationFlag, Segment, Thumbnail, Video

LABELS = ("walk", "run", "jump", "wave", "sit")
BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
N = 60
NO_JOB = "NONE"


@dataclass
class Spec:
    """One stored video as the test made it."""

    i: int
    id: str
    created: datetime
    duration: float | None
    tags: list[str]
    analysis_id: str | None
    segments: list[tuple[str, float]] = field(default_factory=list)  # (label, score) of the current analysis
    job: str = NO_JOB  # the newest analysis job's status
    blocked: bool = False
    pending: int = 0


def _id(prefix: str, i: int) -> str:
    return hashlib.md5(f"{prefix}{i}".encode()).hexdigest()


def _flag(video_id: str, analysis_id: str, action: str, status: str, decision: str | None = None) -> ModerationFlag:
    return ModerationFlag(
        video_id=video_id, analysis_id=analysis_id, rule_key="r", rule={}, severity="high", action=action,
        label="walk", start_s=0.0, end_s=1.0, probability=0.9, models={}, policy_sha256="p" * 64, status=status,
        decision=decision,
    )  # fmt: skip


def _store(api: Api) -> list[Spec]:
    """60 videos: pairs share a created_at, durations repeat (some unknown), tags, most with a current analysis (some
    with an older one too), the others with a queued, failed or running job or none, and moderation flags of every
    kind."""
    specs = []
    with api.session() as session:
        for i in range(N):
            vid = _id("v", i)
            spec = Spec(i, vid, BASE + timedelta(seconds=i // 2), None if i % 7 == 0 else 1.0 + (i % 5) * 0.5,
                        (["news"] if i % 3 == 0 else []) + (["sport"] if i % 4 == 0 else []), None)  # fmt: skip
            session.add(Video(id=vid, sha256=_id("s", i) * 2, path=f"/srv/videos/{i}.mp4", stored=False,
                              size_bytes=10, duration_s=spec.duration, width=64, height=48, tags=spec.tags,
                              created_at=spec.created))  # fmt: skip
            session.flush()
            if i % 6 != 5:
                if i % 10 == 0:  # an older analysis: its segments are not the video's
                    old = Analysis(id=_id("old", i), video_id=vid, profile_name="old", models={}, folder="x",
                                   document={}, completed_at=spec.created + timedelta(minutes=1))  # fmt: skip
                    session.add(old)
                    session.flush()
                    session.add_all(Segment(analysis_id=old.id, video_id=vid, label="old", start_s=0, end_s=1,
                                            score=0.99, source="s", model="m") for _ in range(5))  # fmt: skip
                spec.analysis_id = _id("a", i)
                session.add(Analysis(id=spec.analysis_id, video_id=vid, profile_name="tiny", profile_sha256="f" * 64,
                                     models={}, folder=f"/srv/data/{i}", document={},
                                     completed_at=spec.created + timedelta(minutes=2)))  # fmt: skip
                session.flush()
                for j, label in enumerate(LABELS):
                    for k in range((i + j) % 4):
                        spec.segments.append((label, round(0.3 + 0.1 * ((i * j + k) % 7), 2)))
                session.add_all(Segment(analysis_id=spec.analysis_id, video_id=vid, label=label, start_s=0.5 * n,
                                        end_s=0.5 * n + 0.5, score=score, source="s", model="m")
                                for n, (label, score) in enumerate(spec.segments))  # fmt: skip
                if i % 8 != 1:
                    for name, t in (("late.jpg", 1.5), ("first.jpg", 0.5)):
                        session.add(Thumbnail(analysis_id=spec.analysis_id, video_id=vid, path=f"thumbs/{i}-{name}",
                                              time_s=t, kind="shot", ref=0))  # fmt: skip
                spec.job = "SUCCEEDED"
            else:
                spec.job = ("QUEUED", "FAILED", "IN_PROGRESS", NO_JOB)[(i // 6) % 4]
            if spec.job != NO_JOB:  # an older canceled job first: the newest one counts
                for n, status in enumerate(("CANCELED", spec.job)):
                    session.add(Job(video_id=vid, features=[], profile="tiny", status=status,
                                    created_at=spec.created + timedelta(seconds=n)))  # fmt: skip
            aid = spec.analysis_id or "0" * 32
            kind = i % 9
            if kind == 1:
                session.add(_flag(vid, aid, "block", "open"))
                spec.blocked, spec.pending = True, 1
            elif kind == 2:
                session.add(_flag(vid, aid, "block", "reviewed", "dismiss"))
            elif kind == 3:
                session.add_all([_flag(vid, aid, "flag", "open"), _flag(vid, aid, "flag", "escalated")])
                spec.pending = 2
            elif kind == 4:
                session.add(_flag(vid, aid, "block", "reviewed", "confirm"))
                spec.blocked = True
            elif kind == 6:
                session.add(_flag(vid, aid, "block", "superseded"))
            specs.append(spec)
        session.commit()
    return specs


@pytest.fixture
def collection(api: Api) -> list[Spec]:
    return _store(api)


def _order(specs: list[Spec], sort: str, order: str) -> list[str]:
    desc = order == "desc"
    if sort == "created":
        return [s.id for s in sorted(specs, key=lambda s: (s.created, s.id), reverse=desc)]
    known = sorted((s for s in specs if s.duration is not None), key=lambda s: (s.duration, s.id), reverse=desc)
    unknown = sorted((s for s in specs if s.duration is None), key=lambda s: s.id, reverse=desc)
    return [s.id for s in known + unknown]


def _walk(api: Api, query: str, scope: str = "read") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    for _ in range(200):
        url = f"/v1/videos?{query}" + (f"&next_token={token}" if token else "")
        answer = api.client.get(url, headers=api.auth(scope))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["videos"]
        token = body["next_token"]
        if token is None:
            return items
    raise AssertionError("the pages never end")


@pytest.mark.parametrize(("sort", "order"), [("created", "desc"), ("created", "asc"), ("duration", "desc"),
                                             ("duration", "asc")])  # fmt: skip
def test_pages_list_every_video_once_in_order(api: Api, collection: list[Spec], sort: str, order: str) -> None:
    got = [v["video_id"] for v in _walk(api, f"sort={sort}&order={order}&max_results=7")]
    assert got == _order(collection, sort, order)
    assert len(set(got)) == N


def test_a_video_added_or_deleted_between_pages_shifts_nothing(api: Api, collection: list[Spec]) -> None:
    first = api.client.get("/v1/videos?max_results=10", headers=api.auth("read")).json()
    expected = _order(collection, "created", "desc")
    assert [v["video_id"] for v in first["videos"]] == expected[:10]
    with api.session() as session:  # a newer video, and one of a later page deleted
        session.add(Video(id="f" * 32, sha256="e" * 64, path="/x.mp4", stored=False, size_bytes=1,
                          created_at=BASE + timedelta(days=1)))  # fmt: skip
        session.commit()
    assert api.client.delete(f"/v1/videos/{expected[15]}", headers=api.auth("admin")).status_code == 200
    token = first["next_token"]
    rest = []
    while token:
        body = api.client.get(f"/v1/videos?max_results=10&next_token={token}", headers=api.auth("read")).json()
        rest += [v["video_id"] for v in body["videos"]]
        token = body["next_token"]
    # no repeat (offset paging would show the 10th video again), nothing skipped
    assert rest == expected[10:15] + expected[16:]


def _top(spec: Spec) -> list[dict[str, Any]]:
    counts = Counter(label for label, _ in spec.segments)
    best = {label: max(s for lab, s in spec.segments if lab == label) for label in counts}
    ranked = sorted(counts, key=lambda label: (-counts[label], -best[label], label))[:3]
    return [{"label": label, "segments": counts[label], "max_score": pytest.approx(best[label])} for label in ranked]


def test_each_item_says_what_was_stored(api: Api, collection: list[Spec]) -> None:
    items = {v["video_id"]: v for v in _walk(api, "max_results=200", "review")}
    read = {v["video_id"]: v for v in _walk(api, "max_results=50", "read")}
    assert len(items) == len(read) == N
    for spec in collection:
        item = items[spec.id]
        assert item["duration_s"] == spec.duration and (item["width"], item["height"]) == (64, 48)
        assert item["tags"] == spec.tags
        assert datetime.fromisoformat(item["created_at"]) == spec.created
        assert item["segments"] == len(spec.segments)
        assert item["top_labels"] == _top(spec)
        assert item["analysis_status"] == spec.job
        assert (item["latest_job"] or {}).get("status", NO_JOB) == spec.job
        if spec.analysis_id is None:
            assert item["analysis"] is None and item["thumbnail_url"] is None
        else:
            assert item["analysis"]["analysis_id"] == spec.analysis_id
            assert item["analysis"]["profile"] == {"name": "tiny", "sha256": "f" * 64}
            thumb = None if spec.i % 8 == 1 else f"/v1/videos/{spec.id}/thumbnails/{spec.i}-first.jpg"
            assert item["thumbnail_url"] == thumb
            # a key that cannot review gets no thumbnail of a blocked video (the route answers 451)
            assert read[spec.id]["thumbnail_url"] == (None if spec.blocked else thumb)
        assert item["moderation"]["blocked"] is spec.blocked
        assert item["moderation"]["pending_flags"] == spec.pending
        assert read[spec.id]["moderation"] == item["moderation"]
    for spec in collection[:20]:  # as GET /v1/videos/{id} says it
        one = api.client.get(f"/v1/videos/{spec.id}", headers=api.auth("read")).json()
        assert items[spec.id]["moderation"] == one["moderation"]
        assert (items[spec.id]["analysis"] or {}).get("analysis_id") == (one["analysis"] or {}).get("analysis_id")
    assert "/srv/" not in str(items)  # no server path


def _ids(api: Api, query: str) -> list[str]:
    return [v["video_id"] for v in _walk(api, f"{query}&max_results=9")]


def test_filters(api: Api, collection: list[Spec]) -> None:
    order = _order(collection, "created", "desc")

    def expect(keep: Any) -> list[str]:
        by_id = {s.id: s for s in collection}
        return [i for i in order if keep(by_id[i])]

    assert _ids(api, "label=jump") == expect(lambda s: any(lab == "jump" for lab, _ in s.segments))
    assert _ids(api, "label=jump,sit") == expect(lambda s: any(lab in ("jump", "sit") for lab, _ in s.segments))
    assert _ids(api, "label=jump&min_score=0.75") == expect(
        lambda s: any(lab == "jump" and score >= 0.75 for lab, score in s.segments)
    )
    assert _ids(api, "min_score=0.85") == expect(lambda s: any(score >= 0.85 for _, score in s.segments))
    assert _ids(api, "label=old") == []  # only in analyses that are not current
    assert _ids(api, "tag=news") == expect(lambda s: "news" in s.tags)
    assert _ids(api, "tag=news&tag=sport") == expect(lambda s: {"news", "sport"} <= set(s.tags))
    assert _ids(api, "blocked=true") == expect(lambda s: s.blocked)
    assert _ids(api, "blocked=false&tag=sport") == expect(lambda s: not s.blocked and "sport" in s.tags)
    by_duration = [v["video_id"] for v in _walk(api, "label=walk&sort=duration&order=asc&max_results=4")]
    walking = {s.id for s in collection if any(lab == "walk" for lab, _ in s.segments)}
    assert by_duration == [i for i in _order(collection, "duration", "asc") if i in walking]


def test_refusals(api: Api, collection: list[Spec]) -> None:
    assert api.client.get("/v1/videos").status_code == 401
    assert api.client.get("/v1/videos", headers={"Authorization": "Bearer nope"}).status_code == 401
    for query in ("max_results=0", "max_results=201", "sort=size", "order=up", "min_score=1.5", "min_score=x",
                  "label=a%3Db", "label=", "tag=%3B", "blocked=maybe"):  # fmt: skip
        answer = api.client.get(f"/v1/videos?{query}", headers=api.auth("read"))
        assert answer.status_code == 422, (query, answer.text)
    token = api.client.get("/v1/videos?max_results=2", headers=api.auth("read")).json()["next_token"]
    for query in ("next_token=garbage", f"next_token={token}&sort=duration", f"next_token={token}&order=asc"):
        answer = api.client.get(f"/v1/videos?{query}", headers=api.auth("read"))
        assert answer.status_code == 400 and "next_token" in answer.json()["detail"], (query, answer.text)
    schema = api.client.get("/openapi.json").json()
    answer = schema["paths"]["/v1/videos"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/VideoList"}
    assert "top_labels" in schema["components"]["schemas"]["VideoSummary"]["properties"]


def _statements(api: Api, url: str) -> tuple[list[str], dict[str, Any]]:
    engine = api.client.app.state.service.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = api.client.get(url, headers=api.auth("read"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert answer.status_code == 200, answer.text
    return seen, answer.json()


def test_a_page_costs_a_bounded_number_of_statements(api: Api, collection: list[Spec]) -> None:
    small, body = _statements(api, "/v1/videos?max_results=5")
    assert len(body["videos"]) == 5
    large, body = _statements(api, "/v1/videos?max_results=50")
    assert len(body["videos"]) == 50 and sum(v["analysis"] is not None for v in body["videos"]) > 30
    assert len(large) == len(small)  # no statement per video
    listing = [s for s in large if "videos" in s or "segments" in s or "thumbnails" in s or "jobs" in s]
    assert len(listing) <= 5 and len(large) <= 8, "\n\n".join(large)


def test_uploaded_videos_are_listed_analysed_or_not(api: Api, video_bytes: bytes, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(video_bytes)
    video_id = analyse_uploads(api, {"clip": clip}, ("clip",))["clip"]
    waiting = {"file": ("other.mp4", video_bytes + b"\0", "video/mp4")}  # other bytes: another video, not analysed
    answer = api.client.post("/v1/jobs", files=waiting, headers=api.auth("write"))
    assert answer.status_code == 202, answer.text
    queued = api.client.get(f"/v1/jobs/{answer.json()['job_id']}", headers=api.auth("read")).json()
    text = api.client.get("/v1/videos", headers=api.auth("read")).text
    assert str(api.settings.data_dir) not in text and "clip.mp4" not in text
    items = api.client.get("/v1/videos", headers=api.auth("read")).json()["videos"]
    assert [v["video_id"] for v in items] == [queued["video_id"], video_id]  # newest first
    assert items[0]["analysis_status"] == "QUEUED" and items[0]["analysis"] is None and items[0]["segments"] == 0
    assert items[0]["latest_job"] == {"job_id": queued["job_id"], "status": "QUEUED"}
    item = items[1]
    one = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
    assert item["analysis"] == {k: one["analysis"][k] for k in ("analysis_id", "profile", "completed_at")}
    assert item["analysis_status"] == "SUCCEEDED" and item["duration_s"] == one["duration_s"]
    segments = api.client.get(f"/v1/videos/{video_id}/segments", headers=api.auth("read")).json()["segments"]
    assert item["segments"] == len(segments) > 0
    assert [t["label"] for t in item["top_labels"]] == ["walk"]  # the constant backbone's only label
    image = api.client.get(item["thumbnail_url"], headers=api.auth("read"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
