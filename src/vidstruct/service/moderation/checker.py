"""Stored results into moderation flags: which segments a policy's rules match, and keeping the flags of a
video in step with its newest complete analysis and the current policy.

A rule matches a segment of the video's newest complete analysis (and, for a rule with ``sources: [actors]``,
a run of an actor track's keyframes, see :mod:`.policy`) when the segment's label is one the rule covers, its
score (a probability) is at least ``min_prob`` and its duration ``end_s - start_s`` is at least
``min_duration_s`` (both edges inclusive; durations are compared with a 1e-9 s tolerance so that spans written
in milliseconds are not lost to float rounding). Each (segment or actor run, rule) match is one flag.

:func:`check_video` makes the stored flags equal what the policy matches now, without re-analysing anything:
a flag whose match still holds is kept as it is (its status and reviews too), a match without a flag opens a
new one, and a flag whose match is gone (the policy changed, or a newer analysis replaced the segments) is
closed as ``superseded`` (never deleted; its reviews stay in the audit log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Actor, Analysis, ModerationFlag, ModerationPolicyRun, Segment, Video, utc_now
from vidstruct.service.db.store import current_analysis
from vidstruct.service.moderation.policy import Policy, Rule

_DURATION_TOLERANCE_S = 1e-9
#: flag statuses that still count (a superseded flag is history)
LIVE_STATUSES = ("open", "escalated", "reviewed")
#: every flag status
FLAG_STATUSES = (*LIVE_STATUSES, "superseded")


class SegmentLike(Protocol):
    id: int
    label: str
    start_s: float
    end_s: float
    score: float
    thumbnail: str | None


class ActorLike(Protocol):
    id: int
    track_id: int
    time_s: float
    actions: list[dict[str, Any]]  # [{label, prob}]


@dataclass(frozen=True)
class Evidence:
    """What a flag points at: a segment, or a run of an actor track's keyframes (``source`` ``segment | actor``;
    ``ref``: the segment's row id, or the run's first actor row id)."""

    source: str
    ref: int
    label: str
    start_s: float
    end_s: float
    probability: float
    thumbnail: str | None = None
    track: int | None = None


def _segment_evidence(seg: SegmentLike) -> Evidence:
    return Evidence("segment", seg.id, seg.label, seg.start_s, seg.end_s, seg.score, seg.thumbnail)


def actor_runs(actors: Sequence[ActorLike], labels: frozenset[str], min_prob: float) -> list[Evidence]:
    """Runs of consecutive keyframes of one track whose action (one of ``labels``) has a probability of at least
    ``min_prob``: from the first to the last keyframe of the run, with its highest probability."""
    by_track: dict[int, list[ActorLike]] = {}
    for actor in sorted(actors, key=lambda a: (a.track_id, a.time_s, a.id)):
        by_track.setdefault(actor.track_id, []).append(actor)
    runs: list[Evidence] = []
    for track, rows in by_track.items():
        for label in sorted(labels):
            run: list[tuple[ActorLike, float]] = []
            for row in [*rows, None]:
                prob = None if row is None else {a["label"]: a["prob"] for a in row.actions}.get(label)
                if row is not None and prob is not None and prob >= min_prob:
                    run.append((row, prob))
                    continue
                if run:
                    best = max(p for _, p in run)
                    runs.append(Evidence("actor", run[0][0].id, label, run[0][0].time_s, run[-1][0].time_s, best,
                                         track=track))  # fmt: skip
                    run = []
    return runs


def rule_matches(rule: Rule, evidence: Evidence) -> bool:
    """True when ``rule`` matches ``evidence`` (see the module doc)."""
    return (
        evidence.label in rule.labels
        and evidence.probability >= rule.min_prob
        and (evidence.end_s - evidence.start_s) >= rule.min_duration_s - _DURATION_TOLERANCE_S
    )


def matches(
    policy: Policy, segments: Sequence[SegmentLike], actors: Sequence[ActorLike] = ()
) -> list[tuple[Rule, Evidence]]:
    """Every (rule, evidence) pair of ``policy`` that matches, in rule order (segments, then actor runs)."""
    found: list[tuple[Rule, Evidence]] = []
    for rule in policy.rules:
        candidates: list[Evidence] = []
        if "segments" in rule.sources:
            candidates += [_segment_evidence(seg) for seg in segments]
        if "actors" in rule.sources:
            candidates += actor_runs(actors, rule.labels, rule.min_prob)
        found += [(rule, ev) for ev in candidates if rule_matches(rule, ev)]
    return found


def _key(analysis_id: str, source: str, ref: int | None, label: str, rule_key: str) -> tuple[str, str, int, str, str]:
    return (analysis_id, source, -1 if ref is None else ref, label, rule_key)


@dataclass
class CheckResult:
    """What a check changed: flags opened, kept and superseded."""

    opened: int = 0
    kept: int = 0
    superseded: int = 0
    flag_ids: list[str] = field(default_factory=list)

    def add(self, other: CheckResult) -> None:
        self.opened += other.opened
        self.kept += other.kept
        self.superseded += other.superseded
        self.flag_ids += other.flag_ids


def check_video(session: Session, policy: Policy, video_id: str, analysis: Analysis | None = None) -> CheckResult:
    """Bring the flags of ``video_id`` in step with ``policy`` and the video's newest complete analysis (or
    ``analysis``, one just added in this session and not yet committed). The caller commits."""
    session.flush()
    # one check of a video at a time (a worker finishing a job and a re-check): the second waits for the first to
    # commit, then reads what it wrote (PostgreSQL; SQLite has one writer anyway)
    session.execute(select(Video.id).where(Video.id == video_id).with_for_update())
    analysis = analysis or current_analysis(session, video_id)
    found: dict[tuple[str, str, int, str, str], tuple[Rule, Evidence]] = {}
    if analysis is not None:
        segments = list(session.scalars(select(Segment).where(Segment.analysis_id == analysis.id)))
        wants_actors = any("actors" in rule.sources for rule in policy.rules)
        actors = list(session.scalars(select(Actor).where(Actor.analysis_id == analysis.id))) if wants_actors else []
        for rule, ev in matches(policy, segments, actors):
            found[_key(analysis.id, ev.source, ev.ref, ev.label, rule.key)] = (rule, ev)
    live = session.scalars(
        select(ModerationFlag).where(ModerationFlag.video_id == video_id, ModerationFlag.status.in_(LIVE_STATUSES))
    )
    result = CheckResult()
    now = utc_now()
    for flag in live:
        ref = flag.segment_id if flag.source == "segment" else flag.actor_id
        if found.pop(_key(flag.analysis_id, flag.source, ref, flag.label, flag.rule_key), None) is not None:
            result.kept += 1
            result.flag_ids.append(flag.id)
        else:
            flag.status, flag.updated_at = "superseded", now
            result.superseded += 1
    for (analysis_id, _, _, _, rule_key), (rule, ev) in found.items():
        assert analysis is not None
        flag = ModerationFlag(
            video_id=video_id, analysis_id=analysis_id, source=ev.source,
            segment_id=ev.ref if ev.source == "segment" else None, actor_id=ev.ref if ev.source == "actor" else None,
            track=ev.track, rule_key=rule_key, rule=rule.describe(), severity=rule.severity, action=rule.action,
            label=ev.label, start_s=ev.start_s, end_s=ev.end_s, probability=ev.probability, thumbnail=ev.thumbnail,
            models=analysis.models, policy_sha256=policy.sha256, status="open", created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(flag)
        session.flush()
        result.opened += 1
        result.flag_ids.append(flag.id)
    return result


def recheck_all(session: Session, policy: Policy) -> CheckResult:
    """Check every video of the collection against ``policy`` and record it as the applied policy. The caller
    commits."""
    total = CheckResult()
    flagged = select(ModerationFlag.video_id).where(ModerationFlag.status.in_(LIVE_STATUSES))
    video_ids = session.scalars(
        select(Video.id).where((Video.id.in_(select(Analysis.video_id))) | (Video.id.in_(flagged))).order_by(Video.id)
    ).all()
    for video_id in video_ids:
        total.add(check_video(session, policy, video_id))
    session.add(ModerationPolicyRun(sha256=policy.sha256, source=policy.source))
    return total


def applied_policy_sha256(session: Session) -> str | None:
    """The hash of the policy the collection was last checked against (None: never)."""
    newest = (ModerationPolicyRun.applied_at.desc(), ModerationPolicyRun.id.desc())
    return session.scalar(select(ModerationPolicyRun.sha256).order_by(*newest).limit(1))


def is_blocking(flag: ModerationFlag) -> bool:
    """A ``block`` flag blocks its video while it awaits a decision or once the violation is confirmed."""
    if flag.action != "block":
        return False
    return flag.status in ("open", "escalated") or (flag.status == "reviewed" and flag.decision == "confirm")


def blocking_condition() -> ColumnElement[bool]:
    """:func:`is_blocking` as a SQL condition on ``moderation_flags`` rows (for aggregate queries)."""
    pending = ModerationFlag.status.in_(("open", "escalated"))
    confirmed = and_(ModerationFlag.status == "reviewed", ModerationFlag.decision == "confirm")
    return and_(ModerationFlag.action == "block", or_(pending, confirmed))


def video_moderation(session: Session, video_id: str) -> dict[str, object]:
    """What ``GET /v1/videos/{id}`` shows: ``blocked``, the live flags awaiting a decision, and why it is blocked."""
    flags = session.scalars(
        select(ModerationFlag).where(ModerationFlag.video_id == video_id, ModerationFlag.status.in_(LIVE_STATUSES))
    ).all()
    blocking = sorted(f.id for f in flags if is_blocking(f))
    pending = sum(1 for f in flags if f.status in ("open", "escalated"))
    return {"blocked": bool(blocking), "blocking_flags": blocking, "pending_flags": pending}
