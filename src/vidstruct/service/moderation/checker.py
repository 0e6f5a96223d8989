"""Stored results into moderation flags: which segments a policy's rules match, and keeping the flags of a
video in step with its newest complete analysis and the current policy.

A rule matches a segment of the video's newest complete analysis when the segment's label is one the rule
covers, its score (a probability) is at least ``min_prob`` and its duration ``end_s - start_s`` is at least
``min_duration_s`` (both edges inclusive; durations are compared with a 1e-9 s tolerance so that spans written
in milliseconds are not lost to float rounding). Each (segment, rule) match is one flag.

:func:`check_video` makes the stored flags equal what the policy matches now, without re-analysing anything:
a flag whose match still holds is kept as it is (its status and reviews too), a match without a flag opens a
new one, and a flag whose match is gone (the policy changed, or a newer analysis replaced the segments) is
closed as ``superseded`` (never deleted; its reviews stay in the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidstruct.service.db.models import Analysis, ModerationFlag, ModerationPolicyRun, Segment, Video, utc_now
from vidstruct.service.db.store import current_analysis
from vidstruct.service.moderation.policy import Policy, Rule

_DURATION_TOLERANCE_S = 1e-9
#: flag statuses that still count (a superseded flag is history)
LIVE_STATUSES = ("open", "escalated", "reviewed")


class SegmentLike(Protocol):
    id: int
    label: str
    start_s: float
    end_s: float
    score: float
    thumbnail: str | None


def rule_matches(rule: Rule, segment: SegmentLike) -> bool:
    """True when ``rule`` matches ``segment`` (see the module doc)."""
    return (
        segment.label in rule.labels
        and segment.score >= rule.min_prob
        and (segment.end_s - segment.start_s) >= rule.min_duration_s - _DURATION_TOLERANCE_S
    )


def matches(policy: Policy, segments: list[SegmentLike]) -> list[tuple[Rule, SegmentLike]]:
    """Every (rule, segment) pair of ``policy`` that matches, in rule then segment order."""
    return [(rule, seg) for rule in policy.rules for seg in segments if rule_matches(rule, seg)]


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
    analysis = analysis or current_analysis(session, video_id)
    found: dict[tuple[str, int, str], tuple[Rule, SegmentLike]] = {}
    if analysis is not None:
        segments = list(session.scalars(select(Segment).where(Segment.analysis_id == analysis.id)))
        for rule, seg in matches(policy, segments):
            found[(analysis.id, seg.id, rule.key)] = (rule, seg)
    live = session.scalars(
        select(ModerationFlag).where(ModerationFlag.video_id == video_id, ModerationFlag.status.in_(LIVE_STATUSES))
    )
    result = CheckResult()
    now = utc_now()
    for flag in live:
        key = (flag.analysis_id, flag.segment_id or -1, flag.rule_key)
        if found.pop(key, None) is not None:
            result.kept += 1
            result.flag_ids.append(flag.id)
        else:
            flag.status, flag.updated_at = "superseded", now
            result.superseded += 1
    for (analysis_id, _, rule_key), (rule, seg) in found.items():
        assert analysis is not None
        flag = ModerationFlag(
            video_id=video_id, analysis_id=analysis_id, segment_id=seg.id, rule_key=rule_key, rule=rule.describe(),
            severity=rule.severity, action=rule.action, label=seg.label, start_s=seg.start_s, end_s=seg.end_s,
            probability=seg.score, thumbnail=seg.thumbnail, models=analysis.models, policy_sha256=policy.sha256,
            status="open", created_at=now, updated_at=now,
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


def video_moderation(session: Session, video_id: str) -> dict[str, object]:
    """What ``GET /v1/videos/{id}`` shows: ``blocked``, the live flags awaiting a decision, and why it is blocked."""
    flags = session.scalars(
        select(ModerationFlag).where(ModerationFlag.video_id == video_id, ModerationFlag.status.in_(LIVE_STATUSES))
    ).all()
    blocking = sorted(f.id for f in flags if is_blocking(f))
    pending = sum(1 for f in flags if f.status in ("open", "escalated"))
    return {"blocked": bool(blocking), "blocking_flags": blocking, "pending_flags": pending}
