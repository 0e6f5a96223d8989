"""What an index run did: each video indexed, skipped or failed (with a one-line reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["IndexReport"]


@dataclass
class IndexReport:
    """Outcomes (dicts of :func:`vidstruct.service.indexing.task.outcome`) by status, in the order they came."""

    mode: str  # "db" | "server"
    profile: str
    indexed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def add(self, result: dict[str, Any]) -> None:
        {"indexed": self.indexed, "skipped": self.skipped, "failed": self.failed}[result["status"]].append(result)

    def summary(self) -> str:
        return f"{len(self.indexed)} indexed, {len(self.skipped)} skipped, {len(self.failed)} failed"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "profile": self.profile, "indexed": self.indexed, "skipped": self.skipped,
                "failed": self.failed, "ok": self.ok}  # fmt: skip
