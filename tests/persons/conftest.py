"""Fixtures of the person-box tests: one small ``synth --task detect`` dataset shared by the session."""

from __future__ import annotations

import pytest

from vidstruct.data.synth import SynthSummary, generate


@pytest.fixture(scope="session")
def person_set(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """30 videos of 128 x 128 px, 4 s at 5 fps (keyframes at 1, 2, 3 s): 24 train, 6 held-out videos."""
    return generate("detect", tmp_path_factory.mktemp("persons"), 30, seed=11, size=128, fps=5, duration=4.0)
