"""Fixtures of the synthetic-video tests: small generated datasets (one per task) and a PyAV decoder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from vidstruct.data.synth import SynthSummary, generate


def _decode(path: str | Path) -> np.ndarray:
    """All frames of ``path`` as uint8 ``[T, H, W, 3]`` RGB, decoded with PyAV."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="session")
def decode() -> Callable[[str | Path], np.ndarray]:
    return _decode


@pytest.fixture(scope="session")
def classify_set(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """10 clips (one per class) of 64 x 64 px, 1.2 s at 25 fps."""
    return generate("classify", tmp_path_factory.mktemp("classify"), 10, seed=3, size=64, fps=25, duration=1.2)


@pytest.fixture(scope="session")
def localize_set(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """5 untrimmed videos of 96 x 96 px, 4 s at 25 fps."""
    return generate("localize", tmp_path_factory.mktemp("localize"), 5, seed=0, size=96, fps=25, duration=4.0)


@pytest.fixture(scope="session")
def detect_set(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """6 multi-actor videos of 64 x 64 px, 3 s at 25 fps (keyframes at seconds 1 and 2)."""
    return generate("detect", tmp_path_factory.mktemp("detect"), 6, seed=0, size=64, fps=25, duration=3.0)
