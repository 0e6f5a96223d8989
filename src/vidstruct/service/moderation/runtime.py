"""Where the policy is applied: the worker checks each finished job in the transaction that stores its
results, and the server re-checks the collection at start when the policy's hash differs from the one applied
last (and on ``POST /v1/moderation/recheck``).

:class:`PolicySource` re-reads the policy file when it changes on disk (its modification time or size), so a
long-running worker checks new jobs with the policy the server re-checked with; a file that became malformed
keeps the last good policy (with a warning in the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Analysis, AuditEntry
from vidstruct.service.db.session import transaction
from vidstruct.service.moderation.checker import CheckResult, applied_policy_sha256, check_video, recheck_all
from vidstruct.service.moderation.policy import Policy, PolicyError, load_policy

log = logging.getLogger(__name__)


class PolicySource:
    """The policy of ``path`` (None: no moderation), read again when the file changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._policy: Policy | None = None

    def current(self, *, strict: bool = False) -> Policy | None:
        """The policy now; a malformed changed file raises :class:`PolicyError` when ``strict``, else the last
        good policy is kept."""
        if self.path is None:
            return None
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp is None or stamp != self._stamp or self._policy is None:
            try:
                self._policy = load_policy(self.path)
                self._stamp = stamp
            except PolicyError as exc:
                if strict or self._policy is None:
                    raise
                log.warning("moderation policy unchanged: %s", exc)
        return self._policy

    def check_hook(self) -> Callable[[Session, Analysis], None] | None:
        """What :func:`vidstruct.service.jobs.queue.complete_job` calls with the new analysis (None: no policy)."""
        if self.path is None:
            return None

        def check(session: Session, analysis: Analysis) -> None:
            policy = self.current()
            if policy is not None:
                check_video(session, policy, analysis.video_id, analysis)

        return check


def recheck(session: Session, policy: Policy, actor: str) -> CheckResult:
    """Re-check the collection against ``policy`` and say so in the audit log; the caller commits."""
    result = recheck_all(session, policy)
    session.add(
        AuditEntry(actor=actor, action="moderation.recheck", target=f"policy:{policy.sha256[:16]}",
                   detail={"policy_sha256": policy.sha256, "opened": result.opened, "kept": result.kept,
                           "superseded": result.superseded})
    )  # fmt: skip
    return result


def recheck_if_changed(factory: sessionmaker[Session], policy: Policy) -> CheckResult | None:
    """At server start: re-check the collection when ``policy`` is not the one applied last (None: it is)."""
    with transaction(factory) as session:
        if applied_policy_sha256(session) == policy.sha256:
            return None
        result = recheck(session, policy, "server")
    log.info(
        "moderation policy %s applied: %d flags opened, %d kept, %d superseded",
        policy.sha256[:12], result.opened, result.kept, result.superseded,
    )  # fmt: skip
    return result
