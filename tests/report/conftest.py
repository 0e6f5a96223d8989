"""Fixtures of the report tests: one sample analysis per module (the headless Chromium is tests/conftest.py's)."""

from __future__ import annotations

import pytest
from reportkit import Analysis, make_analysis


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The sample analysis, with its report written beside structure.json."""
    from vidstruct.structure.report import write_report

    result = make_analysis(tmp_path_factory.mktemp("report"))
    write_report(result.structure)
    return result
