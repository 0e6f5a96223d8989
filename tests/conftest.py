"""Project-wide test settings: small thread counts, headless plotting; the one headless Chromium of a test
process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), one per test process for every browser test: Playwright's sync
    API runs one event loop per thread, so a second ``sync_playwright()`` while one is open fails."""
    from playwright.sync_api import sync_playwright  # tests/report/test_report_browser.py says what to install

    from browserkit import chromium_executable

    executable = chromium_executable()
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        try:
            yield instance
        finally:
            instance.close()
