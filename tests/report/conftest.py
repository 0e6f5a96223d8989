"""Fixtures of the report tests: one headless Chromium per session, one sample analysis per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reportkit import Analysis, chromium_executable, make_analysis


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), one per test session (per xdist worker)."""
    from playwright.sync_api import sync_playwright  # test_report_browser.py says what to install if missing

    executable = chromium_executable()
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The sample analysis, with its report written beside structure.json."""
    from vidstruct.structure.report import write_report

    result = make_analysis(tmp_path_factory.mktemp("report"))
    write_report(result.structure)
    return result
