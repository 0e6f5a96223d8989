"""Collection search (``GET /v1/search``) and temporal pairs (``GET /v1/search/sequence``) on a hand-built
collection of five videos, on SQLite and PostgreSQL; every expected answer is worked out from the table below.

=====  ==========  ==================================================  ========  =====  ==============  ========
video  duration s  segments (name label start-end score track)        size B    tags   uploaded        analyses
=====  ==========  ==================================================  ========  =====  ==============  ========
V1     10          s1 approach 0-2 .9 t1, s2 give_object 4-5 .8 t1,     1000      kitchen, day    day 1   one
                   s3 give_object 7-8 .5 t2, s4 walk 1-3 .5
V2     60          s5 approach 10-12 .7 t3, s6 give_object 17.5-18 .9 t3, 5000   street          day 2   one
                   s7 give_object 9-10 .6 t3, s8 walk 20-25 .5
V3     30          s9 approach 3-6 .5, s10 give_object 5-6.5 .75,      3000      kitchen         day 3   one
                   s11 walk 0-1 .5, s15 give_object 3-3.5 .4
V4     5           old: o1 approach 0-1 .99, o2 give_object 2-3 .99;    200       -               day 4   two
                   newest: s13 walk 2-4 .95
V5     40          s14 approach 0-1 .6 t1, s16 give_object 1-2 .95 t1   4000      -               day 5   one
=====  ==========  ==================================================  ========  =====  ==============  ========
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from servicekit import Api
from sqlalchemy import select

from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.models import Analysis, Segment, Video
from vidstruct.service.db.session import make_engine
from vidstruct.service.search.params import SequenceQuery
from vidstruct.service.search.sequence import sequence_statement

DAY1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MODELS = {"localizer": {"name": "bmn_tiny", "task": "localization", "checkpoint_sha256": "ab" * 32}}
OLD_MODELS = {"localizer": {"name": "bmn_old", "task": "localization", "checkpoint_sha256": "cd" * 32}}

VIDEOS: dict[str, dict[str, Any]] = {
    "V1": {"duration_s": 10.0, "size_bytes": 1000, "tags": ["kitchen", "day"], "day": 0},
    "V2": {"duration_s": 60.0, "size_bytes": 5000, "tags": ["street"], "day": 1},
    "V3": {"duration_s": 30.0, "size_bytes": 3000, "tags": ["kitchen"], "day": 2},
    "V4": {"duration_s": 5.0, "size_bytes": 200, "tags": [], "day": 3},
    "V5": {"duration_s": 40.0, "size_bytes": 4000, "tags": [], "day": 4},
}
# (name, video, analysis, label, start_s, end_s, score, track), inserted in this order (ids increase)
SEGMENTS = [
    ("s1", "V1", "new", "approach", 0.0, 2.0, 0.9, 1),
    ("s2", "V1", "new", "give_object", 4.0, 5.0, 0.8, 1),
    ("s3", "V1", "new", "give_object", 7.0, 8.0, 0.5, 2),
    ("s4", "V1", "new", "walk", 1.0, 3.0, 0.5, None),
    ("s5", "V2", "new", "approach", 10.0, 12.0, 0.7, 3),
    ("s6", "V2", "new", "give_object", 17.5, 18.0, 0.9, 3),
    ("s7", "V2", "new", "give_object", 9.0, 10.0, 0.6, 3),
    ("s8", "V2", "new", "walk", 20.0, 25.0, 0.5, None),
    ("s9", "V3", "new", "approach", 3.0, 6.0, 0.5, None),
    ("s10", "V3", "new", "give_object", 5.0, 6.5, 0.75, None),
    ("s11", "V3", "new", "walk", 0.0, 1.0, 0.5, None),
    ("s15", "V3", "new", "give_object", 3.0, 3.5, 0.4, None),
    ("o1", "V4", "old", "approach", 0.0, 1.0, 0.99, 1),
    ("o2", "V4", "old", "give_object", 2.0, 3.0, 0.99, 1),
    ("s13", "V4", "new", "walk", 2.0, 4.0, 0.95, None),
    ("s14", "V5", "new", "approach", 0.0, 1.0, 0.6, 1),
    ("s16", "V5", "new", "give_object", 1.0, 2.0, 0.95, 1),
]
CURRENT = [s for s in SEGMENTS if s[2] == "new"]


def build(api: Api) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    """Insert the collection; returns video ids, segment ids and analysis ids by name."""
    videos, segments, analyses = {}, {}, {}
    with api.session() as session, session.begin():
        for name, meta in VIDEOS.items():
            video = Video(
                sha256=name.lower() * 32, path=f"/videos/{name}.mp4", stored=False, size_bytes=meta["size_bytes"],
                duration_s=meta["duration_s"], tags=meta["tags"], created_at=DAY1 + timedelta(days=meta["day"]),
            )  # fmt: skip
            session.add(video)
            session.flush()
            videos[name] = video.id
            done = DAY1 + timedelta(days=meta["day"], hours=1)
            kinds = ("old", "new") if name == "V4" else ("new",)
            for kind in kinds:
                analysis = Analysis(
                    video_id=video.id, profile_name=kind, models=OLD_MODELS if kind == "old" else MODELS,
                    folder=f"a/{name}/{kind}", document={},
                    completed_at=done - timedelta(minutes=30) if kind == "old" else done,
                )  # fmt: skip
                session.add(analysis)
                session.flush()
                analyses[f"{name}/{kind}"] = analysis.id
        session.flush()
        for name, video, kind, label, start, end, score, track in SEGMENTS:
            row = Segment(
                analysis_id=analyses[f"{video}/{kind}"], video_id=videos[video], label=label, start_s=start, end_s=end,
                score=score, source="localizer", model="localizer", track=track,
            )  # fmt: skip
            session.add(row)
            session.flush()
            segments[name] = row.id
    return videos, segments, analyses


def get(api: Api, path: str, **params: Any) -> dict[str, Any]:
    response = api.client.get(path, params=params, headers=api.auth("read"))
    assert response.status_code == 200, response.text
    return response.json()


def names(hits: list[dict[str, Any]], ids: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h["segment_id"]] for h in hits]


def every_page(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    """All hits, following next_token; checks each page's size."""
    hits, token, pages = [], None, 0
    while True:
        body = get(api, path, **params, **({"next_token": token} if token else {}))
        assert len(body["hits"]) <= params["max_results"]
        hits += body["hits"]
        pages += 1
        token = body["next_token"]
        if token is None:
            return hits
        assert len(body["hits"]) == params["max_results"] and pages < 100


def test_label_score_and_time_filters(api: Api) -> None:
    videos, ids, analyses = build(api)
    body = get(api, "/v1/search", label="approach")
    assert names(body["hits"], ids) == ["s1", "s5", "s14", "s9"]  # o1 (0.99) is in V4's older analysis
    assert body["next_token"] is None and body["group_by"] == "clip" and body["sort"] == "score"
    first = body["hits"][0]
    assert first == {
        "segment_id": ids["s1"], "video_id": videos["V1"], "analysis_id": analyses["V1/new"], "label": "approach",
        "score": 0.9, "start_s": 0.0, "end_s": 2.0, "duration_s": 2.0, "track": 1, "source": "localizer",
        "model": "localizer", "model_version": MODELS["localizer"], "profile": "new", "thumbnail": None,
    }  # fmt: skip
    # several labels (a comma list or repeated), a score range with both edges included; ties by id
    comma = get(api, "/v1/search", label="approach,walk", min_score=0.5, max_score=0.7)
    repeated = api.client.get(
        "/v1/search", params=[("label", "approach"), ("label", "walk"), ("min_score", 0.5), ("max_score", 0.7)],
        headers=api.auth("read"),
    ).json()  # fmt: skip
    assert names(comma["hits"], ids) == names(repeated["hits"], ids) == ["s5", "s14", "s4", "s8", "s9", "s11"]
    # time overlap [2, 4]: s1 (ends at 2) and s2 (starts at 4) only touch it; sort=time: upload order, start, id
    body = get(api, "/v1/search", start_s=2.0, end_s=4.0, sort="time")
    assert names(body["hits"], ids) == ["s4", "s9", "s15", "s13"]
    assert names(get(api, "/v1/search", start_s=6.25, label="give_object", sort="time")["hits"], ids) == [
        "s3", "s7", "s6", "s10"
    ]  # fmt: skip
    assert names(get(api, "/v1/search", end_s=0.5, sort="time")["hits"], ids) == ["s1", "s11", "s14"]
    # only the newest analysis: V4's old segments never appear, whatever the query
    everything = every_page(api, "/v1/search", max_results=1000)
    assert len(everything) == len(CURRENT) and {"o1", "o2"}.isdisjoint(names(everything, ids))
    assert {h["model_version"]["name"] for h in everything} == {"bmn_tiny"}


def test_video_metadata_filters(api: Api) -> None:
    videos, _, _ = build(api)
    by_id = {v: k for k, v in videos.items()}

    def vids(**params: Any) -> list[str]:
        return [by_id[h["video_id"]] for h in get(api, "/v1/search", group_by="video", sort="time", **params)["hits"]]

    assert vids(tags="kitchen") == ["V1", "V3"]
    assert vids(tags="kitchen,day") == vids(tags=["kitchen", "day"]) == ["V1"]
    assert vids(tags="street") == ["V2"] and vids(tags="none") == []
    assert vids(min_duration_s=10, max_duration_s=30) == ["V1", "V3"]  # both edges included
    assert vids(max_size_bytes=3000) == ["V1", "V3", "V4"] and vids(min_size_bytes=4000) == ["V2", "V5"]
    assert vids(min_size_bytes=2**31) == [] and len(vids(max_size_bytes=2**40)) == 5  # past 32-bit integers
    after, before = (DAY1 + timedelta(days=1)).isoformat(), (DAY1 + timedelta(days=3)).isoformat()
    assert vids(uploaded_after=after, uploaded_before=before) == ["V2", "V3"]  # after inclusive, before exclusive
    assert vids(uploaded_after="2026-01-04T00:00:00") == ["V4", "V5"]  # no zone: UTC
    assert vids(tags="kitchen", label="walk", max_duration_s=20) == ["V1"]


def test_group_by_video_both_sorts(api: Api) -> None:
    videos, ids, analyses = build(api)
    by_id = {v: k for k, v in videos.items()}
    body = get(api, "/v1/search", label="give_object", group_by="video")
    got = [
        (by_id[h["video_id"]], h["best_score"], h["hit_count"], names([h["best_segment"]], ids)[0])
        for h in body["hits"]
    ]
    assert got == [("V5", 0.95, 1, "s16"), ("V2", 0.9, 2, "s6"), ("V1", 0.8, 2, "s2"), ("V3", 0.75, 2, "s10")]
    assert body["hits"][0]["models"] == MODELS and body["hits"][0]["analysis_id"] == analyses["V5/new"]
    timed = get(api, "/v1/search", label="give_object", group_by="video", sort="time")["hits"]
    assert [by_id[h["video_id"]] for h in timed] == ["V1", "V2", "V3", "V5"]  # V4's give_object is in its old analysis
    # ties between videos (best 0.5 walk in V1, V2, V3) are ordered by video id
    walk = get(api, "/v1/search", label="walk", group_by="video", max_score=0.6)["hits"]
    assert [h["video_id"] for h in walk] == sorted(videos[v] for v in ("V1", "V2", "V3"))


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "score"},
        {"sort": "time"},
        {"sort": "score", "group_by": "video"},
        {"sort": "time", "group_by": "video", "label": "give_object,walk"},
    ],
)
def test_pagination_returns_every_hit_once(api: Api, params: dict[str, Any]) -> None:
    videos, ids, _ = build(api)
    order = {v: i for i, v in enumerate(VIDEOS)}  # upload order
    if params.get("group_by") == "video":
        labels = params.get("label", "").split(",") if "label" in params else None
        rows = [s for s in CURRENT if labels is None or s[3] in labels]
        best: dict[str, tuple] = {}
        for s in rows:
            if s[1] not in best or (-s[6], ids[s[0]]) < (-best[s[1]][6], ids[best[s[1]][0]]):
                best[s[1]] = s
        key = (lambda v: (-best[v][6], videos[v])) if params["sort"] == "score" else (lambda v: order[v])
        expected = sorted(best, key=key)
        for size in (1, 2, 3):
            hits = every_page(api, "/v1/search", max_results=size, **params)
            assert [h["video_id"] for h in hits] == [videos[v] for v in expected]
        return
    if params["sort"] == "score":
        expected = [s[0] for s in sorted(CURRENT, key=lambda s: (-s[6], ids[s[0]]))]
        assert expected[:4] == ["s13", "s16", "s1", "s6"]  # ties by id: 0.95 (s13, s16), 0.9 (s1, s6)
    else:
        expected = [s[0] for s in sorted(CURRENT, key=lambda s: (order[s[1]], s[4], ids[s[0]]))]
    for size in (1, 2, 4, 7):
        hits = every_page(api, "/v1/search", max_results=size, **params)
        assert names(hits, ids) == expected  # every hit exactly once, in order


SEQ = "/v1/search/sequence"


def pairs(body: dict[str, Any], ids: dict[str, int]) -> list[tuple[str, str, float]]:
    by_id = {v: k for k, v in ids.items()}
    return [(by_id[h["first"]["segment_id"]], by_id[h["then"]["segment_id"]], h["gap_s"]) for h in body["hits"]]


def test_sequence_window_edges_order_and_videos(api: Api) -> None:
    _, ids, _ = build(api)
    q = {"first": "approach", "then": "give_object"}
    # s2 2 s after s1; s3 exactly 5 s after (edge, included); s16 starts when s14 ends (gap 0, included);
    # s6 is 5.5 s after s5 (outside); s7 comes before s5; s10 overlaps s9; V4's pair is in its old analysis;
    # V5's approach (ends at 1 s) is never paired with V1's give_object at 4 s: another video
    assert pairs(get(api, SEQ, **q, within_s=5), ids) == [("s1", "s2", 2.0), ("s1", "s3", 5.0), ("s14", "s16", 0.0)]
    assert pairs(get(api, SEQ, **q, within_s=4.5), ids) == [("s1", "s2", 2.0), ("s14", "s16", 0.0)]
    assert pairs(get(api, SEQ, **q, within_s=5.5), ids) == [
        ("s1", "s2", 2.0), ("s1", "s3", 5.0), ("s5", "s6", 5.5), ("s14", "s16", 0.0)
    ]  # fmt: skip
    assert pairs(get(api, SEQ, **q, within_s=0), ids) == [("s14", "s16", 0.0)]
    # the reverse question: an approach after a give_object; s1, s9, s14 start before every give_object of their
    # video ends, so only s7 (9-10) then s5 (10-12) in V2 is a pair, however wide the window
    assert pairs(get(api, SEQ, first="give_object", then="approach", within_s=100), ids) == [("s7", "s5", 0.0)]
    # allow_overlap: B may start while A lasts (s10 at 5 s, s9 ends at 6 s: gap -1) but not with A (s15 at 3 s)
    assert pairs(get(api, SEQ, **q, within_s=5, allow_overlap=True), ids) == [
        ("s1", "s2", 2.0), ("s1", "s3", 5.0), ("s9", "s10", -1.0), ("s14", "s16", 0.0)
    ]  # fmt: skip
    # sort=score: A.score * B.score = 0.72, 0.57, 0.45
    body = get(api, SEQ, **q, within_s=5, sort="score")
    assert pairs(body, ids) == [("s1", "s2", 2.0), ("s14", "s16", 0.0), ("s1", "s3", 5.0)]
    assert [h["score"] for h in body["hits"]] == pytest.approx([0.72, 0.57, 0.45])
    assert body["hits"][0]["first"]["model_version"] == MODELS["localizer"]
    assert body["hits"][0]["then"]["label"] == "give_object"


def test_sequence_same_track_min_score_and_pages(api: Api) -> None:
    videos, ids, _ = build(api)
    q = {"first": "approach", "then": "give_object", "within_s": 5}
    assert pairs(get(api, SEQ, **q, same_track=True), ids) == [("s1", "s2", 2.0), ("s14", "s16", 0.0)]
    # same_track never pairs segments without a track (s9 and s10 carry none)
    assert pairs(get(api, SEQ, **q, same_track=True, allow_overlap=True), ids) == [
        ("s1", "s2", 2.0),
        ("s14", "s16", 0.0),
    ]
    assert pairs(get(api, SEQ, **q, min_score=0.6), ids) == [("s1", "s2", 2.0), ("s14", "s16", 0.0)]  # 0.6 included
    assert pairs(get(api, SEQ, **q, tags="kitchen"), ids) == [("s1", "s2", 2.0), ("s1", "s3", 5.0)]
    for sort, expected in (
        ("time", [("s1", "s2"), ("s1", "s3"), ("s5", "s6"), ("s9", "s10"), ("s14", "s16")]),
        ("score", [("s1", "s2"), ("s5", "s6"), ("s14", "s16"), ("s1", "s3"), ("s9", "s10")]),  # .72 .63 .57 .45 .375
    ):
        for size in (1, 2, 3):
            hits = every_page(api, SEQ, max_results=size, sort=sort, within_s=5.5, allow_overlap=True,
                              first="approach", then="give_object")  # fmt: skip
            assert [p[:2] for p in pairs({"hits": hits}, ids)] == expected


def test_sequence_join_looks_b_up_by_index_on_sqlite(tmp_path: Path) -> None:
    """SQLite's plan for the self-join: A by the (label, score) index, B by (video_id, start_s), no table scan."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    query = SequenceQuery(first="approach", then="give_object", within_s=5.0, same_track=True, min_score=0.5)
    stmt, keys, _ = sequence_statement(query, "sqlite")
    compiled = stmt.order_by(*(k.order() for k in keys)).limit(10).compile(engine)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params)]
    engine.dispose()
    segment_steps = [step for step in plan if " a " in f"{step} " or " b " in f"{step} "]
    assert any("SEARCH a USING INDEX ix_segments_label_score" in step for step in segment_steps), plan
    assert any("SEARCH b USING INDEX ix_segments_video_start" in step for step in segment_steps), plan
    assert not any(step.startswith("SCAN") for step in segment_steps), plan


def test_scopes_and_hostile_inputs(api: Api) -> None:
    _, ids, _ = build(api)
    for path in ("/v1/search?label=walk", f"{SEQ}?first=approach&then=give_object&within_s=5"):
        for headers in ({}, {"Authorization": "Bearer vs_not_a_key"}):
            response = api.client.get(path, headers=headers)
            assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
    # a label the syntax allows reaches the database as a bound value: it matches nothing and breaks nothing
    for label in ("walk'--", "walk' OR 'x'LIKE'x", "person's head"):
        assert get(api, "/v1/search", label=label)["hits"] == []
    token = get(api, "/v1/search", max_results=1)["next_token"]
    seq_token = get(api, SEQ, first="approach", then="give_object", within_s=5, max_results=1)["next_token"]
    bad = [
        ("/v1/search", {"label": "' OR 1=1 --"}, 422),
        ("/v1/search", {"label": "walk;DROP TABLE segments"}, 422),
        ("/v1/search", {"label": "walk,,run"}, 422),
        ("/v1/search", {"label": ""}, 422),
        ("/v1/search", {"tags": "a=b"}, 422),
        ("/v1/search", {"max_results": 10**9}, 422),
        ("/v1/search", {"max_results": 0}, 422),
        ("/v1/search", {"min_score": 0.8, "max_score": 0.2}, 422),
        ("/v1/search", {"min_score": 2}, 422),
        ("/v1/search", {"min_score": "nan"}, 422),
        ("/v1/search", {"start_s": 5, "end_s": 1}, 422),
        ("/v1/search", {"start_s": "inf"}, 422),
        ("/v1/search", {"min_duration_s": 9, "max_duration_s": 3}, 422),
        ("/v1/search", {"uploaded_after": "yesterday"}, 422),
        ("/v1/search", {"uploaded_after": "2026-02-01T00:00:00Z", "uploaded_before": "2026-01-01T00:00:00Z"}, 422),
        ("/v1/search", {"group_by": "label"}, 422),
        ("/v1/search", {"sort": "name"}, 422),
        ("/v1/search", {"next_token": "not-a-token"}, 400),
        ("/v1/search", {"next_token": "eyJxIjogMX0"}, 400),  # {"q": 1}
        ("/v1/search", {"next_token": token, "label": "walk"}, 400),  # a token of another query
        ("/v1/search", {"next_token": token, "sort": "time"}, 400),
        (SEQ, {"first": "approach", "then": "give_object", "within_s": -1}, 422),
        (SEQ, {"first": "approach", "then": "give_object", "within_s": "nan"}, 422),
        (SEQ, {"first": "approach", "then": "give_object"}, 422),
        (SEQ, {"first": "approach,walk", "then": "give_object", "within_s": 5}, 422),
        (SEQ, {"first": "approach", "then": "' OR ''='", "within_s": 5}, 422),
        (SEQ, {"first": "approach", "then": "give_object", "within_s": 5, "next_token": token}, 400),
        (SEQ, {"first": "approach", "then": "give_object", "within_s": 6, "next_token": seq_token}, 400),
    ]
    for path, params, status in bad:
        response = api.client.get(path, params=params, headers=api.auth("read"))
        assert response.status_code == status, (params, response.text)
        body = response.json()
        assert response.headers["content-type"] == "application/problem+json" and body["status"] == status
        assert isinstance(body["detail"], str) and "Traceback" not in response.text
    with api.session() as session:
        assert len(session.scalars(select(Segment)).all()) == len(SEGMENTS)  # nothing was dropped


def test_hits_name_their_segment_thumbnail(api: Api) -> None:
    """A segment's thumbnail (stored relative to the analysis folder) is shown by the name the thumbnails route
    serves, in clip, video and sequence hits; None when the segment has none."""
    videos, ids, _ = build(api)
    with api.session() as session, session.begin():
        session.get(Segment, ids["s1"]).thumbnail = "thumbnails/seg_0007.jpg"
    assert [h["thumbnail"] for h in get(api, "/v1/search", label="approach")["hits"]] == [
        "seg_0007.jpg", None, None, None
    ]  # fmt: skip
    by_video = get(api, "/v1/search", label="approach", group_by="video")["hits"]
    assert {h["video_id"]: h["best_segment"]["thumbnail"] for h in by_video}[videos["V1"]] == "seg_0007.jpg"
    pairs = get(api, SEQ, first="approach", then="give_object", within_s=2.0)["hits"]
    first_of_v1 = [p for p in pairs if p["first"]["segment_id"] == ids["s1"]]
    assert [(p["first"]["thumbnail"], p["then"]["thumbnail"]) for p in first_of_v1] == [("seg_0007.jpg", None)]
