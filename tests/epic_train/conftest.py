"""Fixtures of the EPIC training tests: one small synthetic EPIC-100 dataset shared by the session."""

from __future__ import annotations

import pytest

from vidstruct.data.synth import SynthSummary, generate


@pytest.fixture(scope="session")
def epic_set(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """40 videos (P01-P10; P05 and P10 unseen) of 64 x 64 px, 10 s at 15 fps."""
    return generate("epic", tmp_path_factory.mktemp("epic"), 40, seed=0, size=64, fps=15, duration=10.0)
