"""Errors of the MoSI generator that a user can cause (bad image, empty folder, image too small)."""

from __future__ import annotations

from vidstruct.errors import VidstructError


class MoSIError(VidstructError):
    """A MoSI source image / folder / list is unusable; the message names the path and what was expected."""
