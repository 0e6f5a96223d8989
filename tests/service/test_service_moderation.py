"""Moderation on both databases: a hand-built collection of three videos whose segments have known labels,
probabilities and durations, a policy with a category tree, and the flags expected by hand; reviews in the
append-only audit log; scopes; re-checking after a policy change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from servicekit import Api, make_api
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from vidstruct.service.db.models import ApiKey, AuditEntry, ModerationFlag, Video
from vidstruct.service.db.session import transaction
from vidstruct.service.db.store import add_analysis
from vidstruct.service.settings import ServiceSettings

POLICY_V1 = """
categories:
  - name: violence
    labels: [punch]
    children:
      - name: weapons
        labels: [shoot]
        children:
          - {name: blades, labels: [stab]}
rules:
  - {name: weapons, category: weapons, min_prob: 0.8, min_duration_s: 1.0, severity: high, action: block}
  - {name: violence, category: violence, min_prob: 0.6, severity: medium}
  - {name: smoke, labels: [smoke], min_prob: 0.5, min_duration_s: 2.0, severity: low, action: flag}
"""
# v2: 'weapons' raised to 0.9 (its stab flag at 0.85 goes), 'smoke' dropped, 'dance' added; 'violence' unchanged
POLICY_V2 = """
categories:
  - name: violence
    labels: [punch]
    children:
      - name: weapons
        labels: [shoot]
        children:
          - {name: blades, labels: [stab]}
rules:
  - {name: weapons, category: weapons, min_prob: 0.9, min_duration_s: 1.0, severity: high, action: block}
  - {name: violence, category: violence, min_prob: 0.6, severity: medium}
  - {name: dance, labels: [dance], min_prob: 0.5, severity: low}
"""

#: (label, start_s, end_s, score, thumbnail) per video
SEGMENTS = {
    "a": [
        ("shoot", 0.0, 1.0, 0.8, "seg_0000.jpg"),  # weapons: both edges exactly met -> weapons + violence
        ("shoot", 2.0, 2.999, 0.95, None),  # 0.999 s < 1.0 -> violence only
        ("punch", 4.0, 4.5, 0.6, None),  # violence (0.6 edge), not weapons (punch is the parent's label)
        ("punch", 5.0, 6.0, 0.59, None),  # nothing
    ],
    "b": [
        ("stab", 1.0, 3.0, 0.85, "thumbs/seg_0001.jpg"),  # blades is under weapons -> weapons + violence
        ("smoke", 0.0, 2.0, 0.5, None),  # smoke (both edges)
        ("smoke", 3.0, 4.5, 0.9, None),  # too short
        ("dance", 5.0, 7.0, 0.7, None),  # no rule in v1
    ],
    "c": [("walk", 0.0, 5.0, 0.99, None), ("smoke", 0.0, 1.0, 0.4, None)],  # nothing
}
#: the flags of POLICY_V1, by hand: (video, label, start_s, rule)
EXPECTED_V1 = {
    ("a", "shoot", 0.0, "weapons"), ("a", "shoot", 0.0, "violence"), ("a", "shoot", 2.0, "violence"),
    ("a", "punch", 4.0, "violence"),
    ("b", "stab", 1.0, "weapons"), ("b", "stab", 1.0, "violence"), ("b", "smoke", 0.0, "smoke"),
}  # fmt: skip
MODELS = {"recognizer": {"name": "r2plus1d_tiny", "task": "recognition", "checkpoint_sha256": "ab" * 32}}


def _document(video: str) -> dict:
    segments = [
        {"label": label, "start_s": s, "end_s": e, "score": p, "source": "windows", "model": "recognizer",
         **({"thumbnail": thumb} if thumb else {})}
        for label, s, e, p, thumb in SEGMENTS[video]
    ]  # fmt: skip
    return {"profile": {"name": "hand", "sha256": "00" * 32}, "models": MODELS, "segments": segments}


def _store(settings: ServiceSettings) -> dict[str, str]:
    """Videos a, b, c with one analysis each (inserted directly); returns name -> video id."""
    from vidstruct.service.db.session import make_engine, session_factory

    engine = make_engine(settings.database_url)
    ids = {}
    with transaction(session_factory(engine)) as session:
        for i, name in enumerate(SEGMENTS):
            video = Video(sha256=f"{i:064x}", path=f"videos/{name}.mp4", stored=True, size_bytes=100)
            session.add(video)
            session.flush()
            add_analysis(session, _document(name), video_id=video.id, job_id=None, folder=f"analyses/{name}/out")
            ids[name] = video.id
    engine.dispose()
    return ids


@pytest.fixture
def collection(settings: ServiceSettings, tmp_path: Path) -> Iterator[tuple[Api, dict[str, str], Path]]:
    """The collection stored, then a server started with POLICY_V1 (which checks it at start)."""
    ids = _store(settings)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_V1)
    for api in make_api(replace(settings, policy_path=policy)):
        yield api, ids, policy


def _flags(api: Api, **params: str) -> list[dict]:
    out, token = [], None
    while True:
        query = {**params, "max_results": "3", **({"next_token": token} if token else {})}
        r = api.client.get("/v1/moderation/flags", params=query, headers=api.auth("review"))
        assert r.status_code == 200, r.text
        out += r.json()["flags"]
        token = r.json()["next_token"]
        if token is None:
            return out


def _keys(flags: list[dict], names: dict[str, str]) -> set[tuple]:
    by_id = {v: k for k, v in names.items()}
    return {(by_id[f["video_id"]], f["evidence"]["label"], f["evidence"]["start_s"], f["rule"]["name"]) for f in flags}


def test_flags_follow_the_policy_and_reviews_are_audited(collection: tuple[Api, dict[str, str], Path]) -> None:
    api, ids, _ = collection
    flags = _flags(api, status="open")
    assert _keys(flags, ids) == EXPECTED_V1
    assert _keys(_flags(api, status="open", severity="high"), ids) == {
        ("a", "shoot", 0.0, "weapons"), ("b", "stab", 1.0, "weapons")}  # fmt: skip
    assert _keys(_flags(api, video_id=ids["b"]), ids) == {k for k in EXPECTED_V1 if k[0] == "b"}
    stab = next(f for f in flags if f["evidence"]["label"] == "stab" and f["rule"]["name"] == "weapons")
    assert stab["evidence"]["probability"] == 0.85 and stab["evidence"]["end_s"] == 3.0
    assert stab["evidence"]["thumbnail"] == "thumbs/seg_0001.jpg"  # as stored: relative to the analysis folder
    assert stab["evidence"]["thumbnail_url"] == f"/v1/videos/{ids['b']}/thumbnails/seg_0001.jpg"  # served by name
    assert stab["rule"]["labels"] == ["shoot", "stab"] and stab["action"] == "block" and stab["severity"] == "high"
    assert stab["models"] == MODELS and stab["video_blocked"] is True and len(stab["policy_sha256"]) == 64
    # blocked: a and b carry an open block flag; c none
    videos = {n: api.client.get(f"/v1/videos/{i}", headers=api.auth("read")).json() for n, i in ids.items()}
    assert [videos[n]["moderation"]["blocked"] for n in "abc"] == [True, True, False]
    assert videos["a"]["moderation"]["pending_flags"] == 4

    # auth: none -> 401, read-only -> 403 (listing and reviewing)
    assert api.client.get("/v1/moderation/flags").status_code == 401
    assert api.client.get("/v1/moderation/flags", headers=api.auth("read")).status_code == 403
    url = f"/v1/moderation/flags/{stab['flag_id']}/review"
    r = api.client.post(url, json={"decision": "dismiss"}, headers=api.auth("read"))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert api.client.post(url, json={"decision": "dismiss"}).status_code == 401
    assert api.client.post(url, json={"decision": "delete"}, headers=api.auth("review")).status_code == 422
    # hostile input is a 4xx problem before the database (PostgreSQL refuses NUL bytes in text)
    bad = [("get", "/v1/moderation/flags", {"params": {"video_id": "a\x00b"}}),
           ("get", "/v1/moderation/flags", {"params": {"status": "everything"}}),
           ("get", "/v1/moderation/flags", {"params": {"next_token": "not-a-token"}}),
           ("get", "/v1/moderation/flags/a%00b", {}),
           ("post", url, {"json": {"decision": "confirm", "note": "x\x00"}}),
           ("post", url, {"content": b"{not json", "headers": {"Content-Type": "application/json"}})]  # fmt: skip
    for method, path, kwargs in bad:
        headers = {**api.auth("review"), **kwargs.pop("headers", {})}
        r = getattr(api.client, method)(path, headers=headers, **kwargs)
        assert r.status_code in (400, 422) and r.headers["content-type"] == "application/problem+json", path
    missing = api.client.get(f"/v1/moderation/flags/{'0' * 32}", headers=api.auth("review"))
    assert missing.status_code == 404

    # escalate then dismiss: b is no longer blocked; both reviews in the audit log, in order
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    r = api.client.post(url, json={"decision": "escalate", "note": "unsure"}, headers=api.auth("review"))
    assert r.status_code == 200 and r.json()["status"] == "escalated"
    r = api.client.post(url, json={"decision": "dismiss", "note": "a cake knife"}, headers=api.auth("admin"))
    assert r.status_code == 200 and r.json()["status"] == "reviewed" and r.json()["decision"] == "dismiss"
    assert api.client.post(url, json={"decision": "confirm"}, headers=api.auth("review")).status_code == 409
    reviews = r.json()["reviews"]
    assert [(x["decision"], x["note"], x["status"]) for x in reviews] == [
        ("escalate", "unsure", "escalated"), ("dismiss", "a cake knife", "reviewed")]  # fmt: skip
    with api.session() as session:
        key_ids = {row.scope: row.id for row in session.scalars(select(ApiKey))}
        entries = session.scalars(select(AuditEntry).where(AuditEntry.target == f"flag:{stab['flag_id']}")).all()
    assert [e.actor for e in entries] == [f"key:{key_ids['review']}", f"key:{key_ids['admin']}"]
    assert [x["key_prefix"] for x in reviews] == [api.keys["review"][:8], api.keys["admin"][:8]]
    assert all(before <= e.at <= datetime.now(timezone.utc) for e in entries)
    video_b = api.client.get(f"/v1/videos/{ids['b']}", headers=api.auth("read")).json()["moderation"]
    assert video_b["blocked"] is False
    assert _keys(_flags(api, status="reviewed"), ids) == {("b", "stab", 1.0, "weapons")}

    # the audit log: no route changes or deletes it; the database refuses it too
    audit_id = reviews[0]["audit_id"]
    for method in ("put", "patch", "delete"):
        for path in (f"/v1/moderation/audit/{audit_id}", f"/v1/moderation/flags/{stab['flag_id']}", url):
            assert getattr(api.client, method)(path, headers=api.auth("admin")).status_code in (404, 405)
    routes = [getattr(r, "path", "") for r in api.client.app.routes]  # type: ignore[attr-defined]
    assert not any("audit" in p for p in routes)
    for statement in (update(AuditEntry).values(action="x"), delete(AuditEntry)):
        with api.session() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(statement.where(AuditEntry.id == audit_id))
            session.commit()
    with api.session() as session:
        assert session.get(AuditEntry, audit_id).detail["decision"] == "escalate"


def test_policy_change_rechecks_stored_results(collection: tuple[Api, dict[str, str], Path]) -> None:
    api, ids, policy = collection
    flags = {(f["video_id"], f["evidence"]["label"], f["evidence"]["start_s"], f["rule"]["name"]): f
             for f in _flags(api)}  # fmt: skip
    a_punch = flags[(ids["a"], "punch", 4.0, "violence")]
    b_stab = flags[(ids["b"], "stab", 1.0, "weapons")]
    for flag, decision in ((a_punch, "confirm"), (b_stab, "confirm")):
        url = f"/v1/moderation/flags/{flag['flag_id']}/review"
        assert api.client.post(url, json={"decision": decision}, headers=api.auth("review")).status_code == 200

    policy.write_text(POLICY_V2)
    assert api.client.post("/v1/moderation/recheck", headers=api.auth("review")).status_code == 403
    r = api.client.post("/v1/moderation/recheck", headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    # v2 by hand: weapons at 0.9 keeps nothing of v1's (shoot 0.8 / stab 0.85) but its rule changed anyway, so
    # both v1 weapons flags go; smoke goes; violence flags stay (4); dance opens one on b
    assert r.json() | {"policy_sha256": None} == {"policy_sha256": None, "opened": 1, "kept": 4, "superseded": 3}
    expected_open = {("a", "shoot", 0.0, "violence"), ("a", "shoot", 2.0, "violence"), ("b", "stab", 1.0, "violence"),
                     ("b", "dance", 5.0, "dance")}  # fmt: skip
    assert _keys(_flags(api, status="open"), ids) == expected_open
    assert _keys(_flags(api, status="reviewed"), ids) == {("a", "punch", 4.0, "violence")}
    assert _keys(_flags(api, status="superseded"), ids) == {
        ("a", "shoot", 0.0, "weapons"), ("b", "stab", 1.0, "weapons"), ("b", "smoke", 0.0, "smoke")}  # fmt: skip
    # reviews stay: the kept flag is still reviewed; the superseded one keeps its decision and its audit entry
    kept = api.client.get(f"/v1/moderation/flags/{a_punch['flag_id']}", headers=api.auth("review")).json()
    assert kept["status"] == "reviewed" and [x["decision"] for x in kept["reviews"]] == ["confirm"]
    gone = api.client.get(f"/v1/moderation/flags/{b_stab['flag_id']}", headers=api.auth("review")).json()
    assert gone["status"] == "superseded" and gone["decision"] == "confirm" and len(gone["reviews"]) == 1
    new_sha = r.json()["policy_sha256"]
    shown = api.client.get("/v1/moderation/policy", headers=api.auth("review")).json()
    assert (shown["sha256"], shown["applied_sha256"]) == (new_sha, new_sha)
    assert [(x["name"], x["min_prob"], x["labels"]) for x in shown["rules"]] == [
        ("weapons", 0.9, ["shoot", "stab"]),
        ("violence", 0.6, ["punch", "shoot", "stab"]),
        ("dance", 0.5, ["dance"]),
    ]
    assert {f["policy_sha256"] for f in _flags(api, status="open") if f["rule"]["name"] == "dance"} == {new_sha}
    # nothing blocks any more (the block rule matches nothing under v2)
    assert [api.client.get(f"/v1/videos/{ids[n]}", headers=api.auth("read")).json()["moderation"]["blocked"]
            for n in "abc"] == [False, False, False]  # fmt: skip
    # a second re-check with the same policy changes nothing; a restart with it does not re-check
    r2 = api.client.post("/v1/moderation/recheck", headers=api.auth("admin")).json()
    assert (r2["opened"], r2["kept"], r2["superseded"]) == (0, 5, 0)
    # a malformed policy: 422 problem naming the file, rule and key; flags untouched
    policy.write_text(POLICY_V2.replace("min_prob: 0.9", "min_prob: 1.5"))
    r = api.client.post("/v1/moderation/recheck", headers=api.auth("admin"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith(f"moderation policy {policy}: rule 0, key 'min_prob': ")
    assert len(_flags(api, status="open")) == 4


def test_server_start_rechecks_when_the_policy_hash_changed(settings: ServiceSettings, tmp_path: Path) -> None:
    ids = _store(settings)
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY_V1)
    for api in make_api(replace(settings, policy_path=policy)):
        assert len(_flags(api)) == 7
    policy.write_text("# a comment changes nothing\n" + POLICY_V1)
    for api in make_api(replace(settings, policy_path=policy)):
        with api.session() as session:
            assert session.scalar(text("SELECT count(*) FROM moderation_policies")) == 1
    policy.write_text(POLICY_V2)
    for api in make_api(replace(settings, policy_path=policy)):
        assert _keys(_flags(api, status="open"), ids) == {
            ("a", "shoot", 0.0, "violence"), ("a", "shoot", 2.0, "violence"), ("a", "punch", 4.0, "violence"),
            ("b", "stab", 1.0, "violence"), ("b", "dance", 5.0, "dance")}  # fmt: skip
        with api.session() as session:
            recheck = session.scalars(select(AuditEntry).where(AuditEntry.action == "moderation.recheck")).all()
            assert [(e.actor, e.detail["opened"], e.detail["superseded"]) for e in recheck] == [
                ("server", 7, 0), ("server", 1, 3)]  # fmt: skip
            assert session.scalar(select(ModerationFlag.status).where(ModerationFlag.label == "smoke")) == "superseded"


def test_actor_actions_are_flagged_and_kept_on_recheck(settings: ServiceSettings, tmp_path: Path) -> None:
    from vidstruct.service.db.session import make_engine, session_factory

    actors = [  # track 3: 'stab' at 0.9 / 0.8 on keyframes 1 s and 2 s, then 0.2 -> one run 1-2 s, best 0.9
        {"track_id": 3, "time_s": t, "box": [0.1, 0.1, 0.5, 0.9], "score": 0.99, "model": "actors",
         "actions": [{"label": "stab", "prob": p}]}
        for t, p in ((1.0, 0.9), (2.0, 0.8), (3.0, 0.2))
    ]  # fmt: skip
    engine = make_engine(settings.database_url)
    with transaction(session_factory(engine)) as session:
        video = Video(sha256="f" * 64, path="videos/x.mp4", stored=True, size_bytes=1)
        session.add(video)
        session.flush()
        doc = {"models": MODELS, "segments": [], "actors": actors}
        add_analysis(session, doc, video_id=video.id, job_id=None, folder="analyses/x/out")
        video_id = video.id
    engine.dispose()
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY_V1.replace("action: block}", "action: block, sources: [segments, actors]}"))
    for api in make_api(replace(settings, policy_path=policy)):
        flags = _flags(api)
        assert [(f["rule"]["name"], f["evidence"]["source"], f["evidence"]["track"], f["evidence"]["start_s"],
                 f["evidence"]["end_s"], f["evidence"]["probability"], f["video_blocked"]) for f in flags] == [
            ("weapons", "actor", 3, 1.0, 2.0, 0.9, True)]  # fmt: skip
        assert flags[0]["video_id"] == video_id and flags[0]["evidence"]["segment_id"] is None
        r = api.client.post("/v1/moderation/recheck", headers=api.auth("admin")).json()
        assert (r["opened"], r["kept"], r["superseded"]) == (0, 1, 0)
