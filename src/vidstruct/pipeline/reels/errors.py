"""The error a user can cause when asking for a reel (one line, exit 2 at the CLI), and the end of a cut its caller
stopped."""

from __future__ import annotations

from vidstruct.errors import VidstructError

__all__ = ["ReelCanceled", "ReelError"]


class ReelError(VidstructError):
    """No segment matches, a label the document does not hold, ``max_s <= 0``, the source video is gone..."""


class ReelCanceled(Exception):
    """The cut was stopped by its caller (``should_stop`` answered True); its partial output was removed."""
