"""Moderation in ``/metrics`` and a failing moderation check inside a worker, on SQLite and PostgreSQL.

1. A hand-built collection of six videos whose segments match a policy's rules in known ways; flags are opened by
   the server's check at start and by ``POST /v1/moderation/recheck``, reviewed through the API; the scraped
   ``vidstruct_moderation_*`` samples are compared with counts worked out by hand below (and cross-checked
   against the API's own flag listing and each video's ``blocked``).
2. The moderation check raising inside the transaction that stores a job's results (a real in-process worker):
   the job ends FAILED with a one-line reason, nothing of it is stored, and the worker goes on to the next job.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from servicekit import Api, make_api
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Analysis, AuditEntry, Job, ModerationFlag, Segment, Video
from vidstruct.service.db.session import make_engine, session_factory, transaction
from vidstruct.service.db.store import add_analysis
from vidstruct.service.moderation import runtime
from vidstruct.service.moderation.policy import Policy
from vidstruct.service.settings import ServiceSettings

RULES = """
  - {name: knife, labels: [stab], min_prob: 0.5, severity: high, action: block}
  - {name: fight, labels: [punch], min_prob: 0.5, severity: medium, action: flag}
  - {name: smoke, labels: [smoke], min_prob: 0.5, severity: low, action: flag}
"""
POLICY_V1 = "rules:" + RULES + "  - {name: gun, labels: [shoot], min_prob: 0.5, severity: high, action: block}\n"
POLICY_V2 = "rules:" + RULES  # 'gun' dropped: its flag is superseded
#: (label, start_s, end_s, score) per video; every segment scores 0.9 so each matching rule opens one flag
SEGMENTS = {
    "v1": [("stab", 0.0, 1.0), ("punch", 1.0, 2.0)],
    "v2": [("stab", 0.0, 1.0), ("smoke", 1.0, 2.0)],
    "v3": [("stab", 0.0, 1.0), ("stab", 2.0, 3.0)],
    "v4": [("shoot", 0.0, 1.0), ("smoke", 1.0, 2.0)],
    "v5": [("punch", 0.0, 1.0)],
    "v6": [("walk", 0.0, 1.0)],
}
#: the reviews made below: (video, label, start_s) -> decisions in order
REVIEWS = {
    ("v1", "stab", 0.0): ["confirm"],  # reviewed, still blocks v1
    ("v1", "punch", 1.0): ["escalate", "dismiss"],  # reviewed
    ("v2", "stab", 0.0): ["dismiss"],  # reviewed, v2 no longer blocked (its smoke flag is a 'flag')
    ("v3", "stab", 0.0): ["escalate"],  # escalated: still blocks v3
    ("v3", "stab", 2.0): ["dismiss"],
    ("v4", "shoot", 0.0): ["escalate"],  # then superseded by POLICY_V2: v4 no longer blocked
    ("v5", "punch", 0.0): ["confirm"],
}
#: by hand, at start (POLICY_V1, nothing reviewed): (status, action, severity) -> flags
AT_START = {("open", "block", "high"): 5, ("open", "flag", "medium"): 2, ("open", "flag", "low"): 2}
#: by hand, after the reviews and the re-check with POLICY_V2
AFTER = {
    ("reviewed", "block", "high"): 3,  # v1 stab (confirm), v2 stab (dismiss), v3 stab 2.0 (dismiss)
    ("escalated", "block", "high"): 1,  # v3 stab 0.0
    ("reviewed", "flag", "medium"): 2,  # v1 punch, v5 punch
    ("open", "flag", "low"): 2,  # v2 smoke, v4 smoke
    ("superseded", "block", "high"): 1,  # v4 shoot
}
STATUSES = ("open", "escalated", "reviewed", "superseded")
ACTIONS, SEVERITIES = ("flag", "block"), ("low", "medium", "high")


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text exposition: (name, sorted labels) -> value (duplicates are an error)."""
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, key
            out[key] = s.value
    return out


def _moderation(api: Api) -> tuple[dict[tuple[str, str, str], float], float, dict[str, float]]:
    """The scraped flags by (status, action, severity), blocked videos, and reviews by decision."""
    response = api.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    types = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert (types["vidstruct_moderation_flags"], types["vidstruct_moderation_blocked_videos"]) == ("gauge", "gauge")
    assert types["vidstruct_moderation_reviews"] == "counter"
    samples = _samples(response.text)
    flags = {
        (d["status"], d["action"], d["severity"]): v
        for (name, labels), v in samples.items()
        if name == "vidstruct_moderation_flags" and (d := dict(labels))
    }
    reviews = {dict(labels)["decision"]: v for (name, labels), v in samples.items()
               if name == "vidstruct_moderation_reviews_total"}  # fmt: skip
    return flags, samples[("vidstruct_moderation_blocked_videos", ())], reviews


def _every_combination(nonzero: dict[tuple[str, str, str], int]) -> dict[tuple[str, str, str], int]:
    return {(s, a, v): nonzero.get((s, a, v), 0) for s in STATUSES for a in ACTIONS for v in SEVERITIES}


def _store(settings: ServiceSettings) -> dict[str, str]:
    """The six videos with one analysis each (inserted directly); name -> video id."""
    engine = make_engine(settings.database_url)
    ids = {}
    with transaction(session_factory(engine)) as session:
        for i, (name, segments) in enumerate(SEGMENTS.items()):
            video = Video(sha256=f"{i:064x}", path=f"videos/{name}.mp4", stored=True, size_bytes=100)
            session.add(video)
            session.flush()
            doc = {"models": {}, "segments": [
                {"label": label, "start_s": s, "end_s": e, "score": 0.9, "source": "windows", "model": "recognizer"}
                for label, s, e in segments]}  # fmt: skip
            add_analysis(session, doc, video_id=video.id, job_id=None, folder=f"analyses/{name}/out")
            ids[name] = video.id
    engine.dispose()
    return ids


def _listed(api: Api) -> list[dict]:
    out, token = [], None
    while True:
        query = {"status": "all", "max_results": "4", **({"next_token": token} if token else {})}
        r = api.client.get("/v1/moderation/flags", params=query, headers=api.auth("review"))
        assert r.status_code == 200, r.text
        out += r.json()["flags"]
        token = r.json()["next_token"]
        if token is None:
            return out


def _blocked(api: Api, ids: dict[str, str]) -> set[str]:
    views = {n: api.client.get(f"/v1/videos/{i}", headers=api.auth("read")).json() for n, i in ids.items()}
    return {n for n, view in views.items() if view["moderation"]["blocked"]}


def test_moderation_metrics_count_flags_blocked_videos_and_reviews(settings: ServiceSettings, tmp_path: Path) -> None:
    ids = _store(settings)
    names = {v: k for k, v in ids.items()}
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_V1)
    for api in make_api(replace(settings, policy_path=policy)):  # the server checks the collection at start
        flags, blocked, reviews = _moderation(api)
        assert flags == _every_combination(AT_START)
        assert blocked == 4 and _blocked(api, ids) == {"v1", "v2", "v3", "v4"}
        assert reviews == {"confirm": 0, "dismiss": 0, "escalate": 0}

        by_key = {(names[f["video_id"]], f["evidence"]["label"], f["evidence"]["start_s"]): f for f in _listed(api)}
        assert set(REVIEWS) <= set(by_key) and len(by_key) == sum(AT_START.values())
        for key, decisions in REVIEWS.items():
            url = f"/v1/moderation/flags/{by_key[key]['flag_id']}/review"
            for decision in decisions:
                r = api.client.post(url, json={"decision": decision, "note": "t"}, headers=api.auth("review"))
                assert r.status_code == 200, r.text
        refused = f"/v1/moderation/flags/{by_key[('v5', 'punch', 0.0)]['flag_id']}/review"  # reviewed: 409, no entry
        assert api.client.post(refused, json={"decision": "dismiss"}, headers=api.auth("review")).status_code == 409
        policy.write_text(POLICY_V2)
        r = api.client.post("/v1/moderation/recheck", headers=api.auth("admin"))  # an audit entry, not a review
        assert r.status_code == 200 and (r.json()["opened"], r.json()["superseded"]) == (0, 1), r.text

        flags, blocked, reviews = _moderation(api)
        assert flags == _every_combination(AFTER)
        assert blocked == 2 and _blocked(api, ids) == {"v1", "v3"}
        assert reviews == {"confirm": 2, "dismiss": 3, "escalate": 3}
        # the same numbers from the API's listing and the audit log, counted here
        listed = Counter((f["status"], f["action"], f["severity"]) for f in _listed(api))
        assert flags == _every_combination(dict(listed))
        with api.session() as session:
            entries = session.scalars(select(AuditEntry)).all()
        decisions = Counter(e.detail["decision"] for e in entries if e.detail.get("decision"))
        assert [e.action for e in entries].count("moderation.recheck") == 2  # at start and the POST: not reviews
        assert reviews == dict(decisions) == dict(Counter(d for ds in REVIEWS.values() for d in ds))


POLICY_WALK = "rules:\n  - {name: walking, labels: [walk], min_prob: 0.5, severity: medium, action: block}\n"


def test_a_moderation_check_that_raises_fails_its_job_and_the_worker_goes_on(
    settings: ServiceSettings, tmp_path: Path, video_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tiny model labels every window 'walk' (probability 0.71 > 0.5): each job's segments open block flags
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_WALK)
    real_check = runtime.check_video
    calls: list[str] = []

    def check_then_raise(session: Session, policy: Policy, video_id: str, analysis: Analysis | None = None) -> Any:
        calls.append(video_id)
        result = real_check(session, policy, video_id, analysis)  # flags written in the job's transaction ...
        if len(calls) == 1:
            assert result.opened >= 1
            raise RuntimeError("moderation store unavailable\n(second line)")  # ... then the check breaks
        return result

    monkeypatch.setattr(runtime, "check_video", check_then_raise)
    for api in make_api(replace(settings, policy_path=policy)):
        job_ids = []
        for data in (video_bytes, bytes(video_bytes[:-1]) + b"\x01"):  # two videos (the second: other bytes)
            upload = {"file": ("clip.mp4", data, "video/mp4")}
            answer = api.client.post("/v1/jobs", files=upload, headers=api.auth("write"))
            assert answer.status_code == 202, answer.text
            job_ids.append(answer.json()["job_id"])
        assert api.worker().run(exit_when_idle=True) == 2  # the same worker ran both
        assert len(calls) == 2
        jobs = {j: api.client.get(f"/v1/jobs/{j}", headers=api.auth("read")).json() for j in job_ids}
        failed = [j for j in jobs.values() if j["status"] == "FAILED"]
        succeeded = [j for j in jobs.values() if j["status"] == "SUCCEEDED"]
        assert len(failed) == 1 and len(succeeded) == 1, jobs
        bad, good = failed[0], succeeded[0]
        assert bad["error"] == "storing the results failed: RuntimeError: moderation store unavailable (second line)"
        assert bad["video_id"] == calls[0] and good["video_id"] == calls[1]
        with api.session() as session:  # nothing of the failed job: no analysis, segments or flags
            assert session.scalar(select(Job.analysis_id).where(Job.id == bad["job_id"])) is None
            for table, column in ((Analysis, Analysis.video_id), (Segment, Segment.video_id),
                                  (ModerationFlag, ModerationFlag.video_id)):  # fmt: skip
                count = session.scalar(select(func.count()).select_from(table).where(column == bad["video_id"]))
                assert count == 0, table.__tablename__
            walks = session.scalar(
                select(func.count()).select_from(Segment)
                .where(Segment.video_id == good["video_id"], Segment.label == "walk", Segment.score >= 0.5)
            )  # fmt: skip
            good_flags = session.scalars(select(ModerationFlag).where(ModerationFlag.video_id == good["video_id"]))
            assert walks >= 1 and [f.status for f in good_flags] == ["open"] * walks
        folders = sorted(p.name for p in api.settings.analyses_dir.iterdir())
        assert folders == [f"{good['job_id']}-1"]  # the failed job's folder was removed
        flags, blocked, _ = _moderation(api)
        assert flags == _every_combination({("open", "block", "medium"): walks}) and blocked == 1
        samples = _samples(api.client.get("/metrics").text)
        assert samples[("vidstruct_jobs", (("kind", "analysis"), ("status", "FAILED")))] == 1
        assert samples[("vidstruct_jobs", (("kind", "analysis"), ("status", "SUCCEEDED")))] == 1
