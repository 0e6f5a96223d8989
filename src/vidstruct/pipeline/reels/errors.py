"""The error a user can cause when asking for a reel (one line, exit 2 at the CLI)."""

from __future__ import annotations

from vidstruct.errors import VidstructError

__all__ = ["ReelError"]


class ReelError(VidstructError):
    """No segment matches, a label the document does not hold, ``max_s <= 0``, the source video is gone..."""
