"""The Chromium binary every browser test drives (Debian's ``chromium``; Playwright never downloads one)."""

from __future__ import annotations

import os
import shutil

import pytest


def chromium_executable() -> str:
    """Path of the Chromium binary the tests drive; fails (does not skip) with what to install."""
    name = os.environ.get("VIDSTRUCT_CHROMIUM", "chromium")
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"the browser tests need a Chromium binary ({name!r} not found on PATH): install Debian's package "
            "('apt-get install -y chromium') or set VIDSTRUCT_CHROMIUM to a Chromium executable",
            pytrace=False,
        )
    return found
