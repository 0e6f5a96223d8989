"""``GET /v1/labels`` and ``GET /v1/profiles``.

Labels: a hand-built collection on SQLite and PostgreSQL; every expected count is worked out in Python from the
table below (:func:`expected_counts`), not by the service's SQL:

=====  ==========================================  =============================================================
video  segments (analysis: labels)                 moderation
=====  ==========================================  =============================================================
V1     new: walk walk run answer_phone             -
V2     new: walk Running run                       -
V3     old: jump jump jump; new: Jump walk         -  (the old analysis is not current: ``jump`` counts nothing)
V4     new: run run secret                         a ``block`` flag, open: blocked
V5     new: walk                                   a ``block`` flag reviewed and confirmed: blocked
V6     new: run                                    a ``block`` flag reviewed and dismissed: not blocked
V7     new: walk                                   a ``flag`` flag, open: not blocked
V8     failed: ghost (an analysis that is not complete)
=====  ==========================================  =============================================================

Profiles: a folder of profiles built here (a tiny constant backbone), one shadowed by ``DATA/profiles``, one that
does not validate, one naming a missing checkpoint, one whose name a job could not give; the hash listed is the one
a real analysis with that profile records.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from servicekit import Api, make_api, save_constant_backbone, write_profile
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from vidstruct.service.api.catalog import distinct_labels, label_counts
from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.models import Analysis, ModerationFlag, Segment, Video
from vidstruct.service.db.session import make_engine
from vidstruct.service.settings import ServiceSettings

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MODELS = {"recognizer": {"name": "r2plus1d_tiny", "task": "recognition", "checkpoint_sha256": "ab" * 32}}
# video -> [(analysis kind, [labels])]; "new" is the newest complete analysis, "old" an older complete one
ANALYSES: dict[str, list[tuple[str, list[str]]]] = {
    "V1": [("new", ["walk", "walk", "run", "answer_phone"])],
    "V2": [("new", ["walk", "Running", "run"])],
    "V3": [("old", ["jump", "jump", "jump"]), ("new", ["Jump", "walk"])],
    "V4": [("new", ["run", "run", "secret"])],
    "V5": [("new", ["walk"])],
    "V6": [("new", ["run"])],
    "V7": [("new", ["walk"])],
    "V8": [("failed", ["ghost"])],
}
# video -> (action, status, decision) of its one moderation flag
FLAGS = {
    "V4": ("block", "open", None),
    "V5": ("block", "reviewed", "confirm"),
    "V6": ("block", "reviewed", "dismiss"),
    "V7": ("flag", "open", None),
}
BLOCKED = {"V4", "V5"}  # by the rule of the moderation module: a block flag open / escalated, or confirmed


def build(api: Api) -> dict[str, str]:
    """Insert the collection; the video ids by name."""
    ids: dict[str, str] = {}
    with api.session() as session, session.begin():
        for n, (name, analyses) in enumerate(ANALYSES.items()):
            video = Video(sha256=f"{n:064x}", path=f"/videos/{name}.mp4", stored=False, size_bytes=1000,
                          duration_s=10.0, created_at=T0 + timedelta(days=n))  # fmt: skip
            session.add(video)
            session.flush()
            ids[name] = video.id
            for k, (kind, labels) in enumerate(analyses):
                analysis = Analysis(
                    video_id=video.id, profile_name="tiny", models=MODELS, folder=f"a/{name}/{kind}", document={},
                    status="failed" if kind == "failed" else "complete", completed_at=T0 + timedelta(days=n, hours=k),
                )  # fmt: skip
                session.add(analysis)
                session.flush()
                for i, label in enumerate(labels):
                    session.add(Segment(analysis_id=analysis.id, video_id=video.id, label=label, start_s=float(i),
                                        end_s=i + 1.0, score=0.9, source="recognizer", model="recognizer"))  # fmt: skip
                if name in FLAGS and kind == "new":
                    action, status, decision = FLAGS[name]
                    session.add(ModerationFlag(
                        video_id=video.id, analysis_id=analysis.id, source="segment", rule_key="r", rule={},
                        severity="high", action=action, label=labels[0], start_s=0.0, end_s=1.0, probability=0.9,
                        models=MODELS, policy_sha256="0" * 64, status=status, decision=decision,
                    ))  # fmt: skip
    return ids


def expected_counts(prefix: str = "", *, hide_blocked: bool) -> list[dict[str, Any]]:
    """The answer worked out from the table: the newest complete analysis of each video ("new"), blocked
    videos left out for keys that cannot review, most segments first, then most videos, then by label."""
    segments: dict[str, int] = defaultdict(int)
    videos: dict[str, set[str]] = defaultdict(set)
    for name, analyses in ANALYSES.items():
        if hide_blocked and name in BLOCKED:
            continue
        for kind, labels in analyses:
            if kind != "new":
                continue
            for label in labels:
                if label.lower().startswith(prefix.lower()):
                    segments[label] += 1
                    videos[label].add(name)
    rows = [{"label": label, "segments": n, "videos": len(videos[label])} for label, n in segments.items()]
    return sorted(rows, key=lambda r: (-r["segments"], -r["videos"], r["label"]))


def labels(api: Api, scope: str = "read", **params: Any) -> dict[str, Any]:
    response = api.client.get("/v1/labels", params=params, headers=api.auth(scope))
    assert response.status_code == 200, response.text
    return response.json()


def test_labels_counts_order_and_prefix(api: Api) -> None:
    build(api)
    body = labels(api)
    assert body["next_token"] is None
    assert body["labels"] == expected_counts(hide_blocked=True)
    # by hand, for the read key: walk in V1 (2), V2, V3, V7; run in V1, V2, V6 ...
    assert body["labels"][:3] == [
        {"label": "walk", "segments": 5, "videos": 4},
        {"label": "run", "segments": 3, "videos": 3},
        {"label": "Jump", "segments": 1, "videos": 1},
    ]
    assert {"jump", "ghost", "secret"}.isdisjoint(r["label"] for r in body["labels"])  # old, failed, blocked only
    # the prefix is case-insensitive
    assert [r["label"] for r in labels(api, prefix="RUN")["labels"]] == ["run", "Running"]
    assert labels(api, prefix="ru")["labels"] == expected_counts("ru", hide_blocked=True)
    assert labels(api, prefix="j")["labels"] == [{"label": "Jump", "segments": 1, "videos": 1}]
    assert labels(api, prefix="answer_")["labels"] == [{"label": "answer_phone", "segments": 1, "videos": 1}]
    assert labels(api, prefix="zzz") == {"labels": [], "next_token": None}
    assert labels(api, prefix="gh")["labels"] == []  # ghost: only in an analysis that is not complete


def test_labels_pages_and_limit_bounds(api: Api) -> None:
    build(api)
    everything = expected_counts(hide_blocked=True)
    assert len(everything) == 5
    pages, token = [], None
    while True:
        body = labels(api, limit=4, **({"next_token": token} if token else {}))
        pages.append(body["labels"])
        token = body["next_token"]
        if token is None:
            break
        assert len(pages) < 10
    assert [len(p) for p in pages] == [4, 1] and [r for p in pages for r in p] == everything
    assert labels(api, limit=5)["next_token"] is None  # exactly one full page: no empty page after it
    assert labels(api, limit=500)["labels"] == everything
    for bad in (0, -1, 501):
        response = api.client.get("/v1/labels", params={"limit": bad}, headers=api.auth("read"))
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert api.client.get("/v1/labels", params={"prefix": "a" * 201}, headers=api.auth("read")).status_code == 422
    assert api.client.get("/v1/labels", params={"next_token": "nope"}, headers=api.auth("read")).status_code == 400
    assert api.client.get("/v1/labels").status_code == 401


def test_labels_leave_out_blocked_videos_for_keys_that_cannot_review(api: Api) -> None:
    ids = build(api)
    # the videos the API itself calls blocked are the table's BLOCKED (the same rule as the labels' SQL)
    said = {name for name, vid in ids.items() if labels_video(api, vid)["moderation"]["blocked"]}
    assert said == BLOCKED
    for scope in ("read", "write"):
        assert labels(api, scope)["labels"] == expected_counts(hide_blocked=True)
        assert labels(api, scope, prefix="sec")["labels"] == []
    for scope in ("review", "admin"):
        seen = labels(api, scope)["labels"]
        assert seen == expected_counts(hide_blocked=False)
        assert seen[:2] == [{"label": "walk", "segments": 6, "videos": 5}, {"label": "run", "segments": 5, "videos": 4}]
        assert labels(api, scope, prefix="SEC")["labels"] == [{"label": "secret", "segments": 1, "videos": 1}]


def labels_video(api: Api, video_id: str) -> dict[str, Any]:
    response = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read"))
    assert response.status_code == 200, response.text
    return response.json()


def test_labels_read_the_label_index(tmp_path: Path) -> None:
    """SQLite's plans, with statistics (ANALYZE) of 400 videos of 10 segments over 4 labels (with which it would
    rather walk every current analysis's segments): the distinct labels by seeks in the (label, score) index, and a
    prefix's counts by ranges of it; no scan of the segments table."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    executed: list[tuple[str, Any]] = []
    event.listen(
        engine, "before_cursor_execute", lambda c, cur, stmt, params, ctx, many: executed.append((stmt, params))
    )
    labels = [f"l{i:02d}" for i in range(4)]
    with engine.begin() as conn:
        conn.execute(insert(Video), [{"id": f"{v:032x}", "sha256": f"{v:064x}", "path": "/v.mp4", "stored": False,
                                      "size_bytes": 1, "probe": {}, "tags": []} for v in range(400)])  # fmt: skip
        conn.execute(insert(Analysis), [{"id": f"{v:032x}", "video_id": f"{v:032x}", "profile_name": "p",
                                         "models": {}, "folder": "f", "document": {}} for v in range(400)])  # fmt: skip
        rows = [(v, labels[(v + i) % 4]) for v in range(400) for i in range(10)] + [(0, "b"), (1, "B"), (2, "b")]
        conn.execute(insert(Segment), [{"analysis_id": f"{v:032x}", "video_id": f"{v:032x}", "label": label,
                                        "start_s": 0.0, "end_s": 1.0, "score": 0.5, "source": "s", "model": "m"}
                                       for v, label in rows])  # fmt: skip
        conn.exec_driver_sql("ANALYZE")
    with Session(engine) as session:
        assert distinct_labels(session) == ["B", "b", *labels]
        executed.clear()
        counts = label_counts(session, "L01", hide_blocked=True)
        assert [(c.label, c.segments, c.videos) for c in counts] == [("l01", 1000, 400)]
        raw = session.connection().connection.driver_connection
        plans = [[row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + stmt, params)] for stmt, params in executed]
    engine.dispose()
    scan, counting = plans  # the distinct labels, then one count over the labels the prefix matched
    assert any("ix_segments_label_score" in step for step in scan), scan
    assert not any(step.startswith("SCAN segments") for step in scan), scan
    assert any("SEARCH segments USING INDEX ix_segments_label_score (label=?)" in step for step in counting), counting
    assert not any("ix_segments_analysis_id" in step or step.startswith("SCAN segments") for step in counting), counting


# --- profiles

ALPHA = "# The alpha profile: a constant backbone. Paths are relative to this file.\n# More words.\n"


@pytest.fixture
def profile_api(tmp_path: Path) -> Any:
    """The API over a SQLite database with the profiles of the module doc; default profile ``alpha``."""
    root = tmp_path / "profiles"
    root.mkdir()
    backbone = save_constant_backbone(root / "constant.pt")
    write_profile(root / "alpha.yaml", backbone)
    (root / "alpha.yaml").write_text(ALPHA + (root / "alpha.yaml").read_text())
    write_profile(root / "shadowed.yaml", backbone)
    (root / "broken.yaml").write_text("task: analyze\nshots: {detector: no-such-detector}\n")
    (root / "missing.yaml").write_text("task: analyze\nname: gone\nshots: {detector: none}\n"
                                       "recognizer: {checkpoint: gone.pt}\n")  # fmt: skip
    write_profile(root / "bad name.yaml", backbone)
    data = tmp_path / "data"
    (data / "profiles").mkdir(parents=True)
    (data / "profiles" / "shadowed.yaml").write_text("# Overrides the other one.\ntask: analyze\nname: first\n"
                                                     "shots: {detector: none}\n")  # fmt: skip
    db_url = f"sqlite+pysqlite:///{tmp_path / 'vidstruct.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    settings = ServiceSettings(data_dir=data, db_url=db_url, profile_dirs=(root,), default_profile="alpha",
                               lease_s=5.0, poll_s=0.1, heartbeat_s=0.5)  # fmt: skip
    yield from make_api(settings)


def test_profiles_list_what_jobs_may_name(profile_api: Api, tmp_path: Path, video_bytes: bytes) -> None:
    api = profile_api
    response = api.client.get("/v1/profiles", headers=api.auth("read"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["default_profile"] == "alpha"
    by_name = {p["name"]: p for p in body["profiles"]}
    assert [p["name"] for p in body["profiles"]] == ["alpha", "broken", "missing", "shadowed"]  # not "bad name"
    backbone_sha = hashlib.sha256((tmp_path / "profiles" / "constant.pt").read_bytes()).hexdigest()
    alpha = by_name["alpha"]
    assert {k: alpha[k] for k in ("analysis_name", "description", "is_default", "usable", "problems")} == {
        "analysis_name": "alpha", "description": "The alpha profile: a constant backbone.", "is_default": True,
        "usable": True, "problems": [],
    }  # fmt: skip
    assert alpha["models"] == [
        {"key": "shots", "name": "content", "task": "shots", "checkpoint_sha256": None},
        {"key": "recognizer", "name": "r2plus1d_tiny", "task": "recognition", "checkpoint_sha256": backbone_sha},
    ]
    assert [p["is_default"] for p in body["profiles"]] == [True, False, False, False]
    shadowed = by_name["shadowed"]  # DATA/profiles first, as jobs pick it
    assert (shadowed["analysis_name"], shadowed["description"], shadowed["models"]) == ("first", "Overrides the "
                                                                                          "other one.", [])  # fmt: skip
    broken, missing = by_name["broken"], by_name["missing"]
    assert (broken["usable"], broken["models"], len(broken["problems"])) == (False, [], 1)
    assert missing["usable"] is False and missing["problems"] == ["recognizer: its checkpoint file is missing"]
    assert missing["models"] == [{"key": "recognizer", "name": None, "task": "recognition", "checkpoint_sha256": None}]
    # no server path anywhere: neither the folders nor the files' names
    for secret in (str(tmp_path), str(Path.cwd()), "constant.pt", "gone.pt", ".yaml"):
        assert secret not in response.text, secret

    # the hash listed is what an analysis with the profile records
    files = {"file": ("cut.mp4", video_bytes, "video/mp4")}
    job = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data={"profile": "alpha"}).json()
    assert api.worker().run(exit_when_idle=True) == 1
    with api.session() as session:
        analysis = session.scalars(select(Analysis).where(Analysis.job_id == job["job_id"])).one()
    assert (analysis.profile_name, analysis.profile_sha256) == ("alpha", alpha["profile_sha256"])
    assert analysis.models["recognizer"]["checkpoint_sha256"] == backbone_sha

    # a retrained checkpoint (new bytes, a later mtime) is seen on the next call; the profile hash follows it
    checkpoint = tmp_path / "profiles" / "constant.pt"
    checkpoint.write_bytes(checkpoint.read_bytes() + b"\0")
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = api.client.get("/v1/profiles", headers=api.auth("read")).json()["profiles"][0]
    assert again["models"][1]["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert again["profile_sha256"] != alpha["profile_sha256"]
    assert api.client.get("/v1/profiles").status_code == 401


def test_the_schema_names_the_answers(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    for path, model in (("/v1/profiles", "ProfileList"), ("/v1/labels", "LabelList")):
        answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer == {"$ref": f"#/components/schemas/{model}"}
    params = {p["name"]: p["schema"] for p in schema["paths"]["/v1/labels"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"], params["limit"]["default"]) == (1, 500, 50)
