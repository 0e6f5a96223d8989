"""Session fixtures of the recipe tests: one pool of short synthetic clips, one tree of benchmark-shaped datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoo_layouts import (
    ClipPool,
    make_pool,
    write_activitynet13,
    write_hacs,
    write_hmdb51,
    write_kinetics400,
    write_ssv2,
    write_thumos14,
    write_ucf101,
)


@pytest.fixture(scope="session")
def clip_pool(tmp_path_factory: pytest.TempPathFactory) -> ClipPool:
    """Four 1.5 s clips rendered once and encoded as mp4, webm and avi."""
    return make_pool(tmp_path_factory.mktemp("zoo_pool"))


@pytest.fixture(scope="session")
def zoo_root(tmp_path_factory: pytest.TempPathFactory, clip_pool: ClipPool) -> Path:
    """A directory holding ``data/<dataset>/`` for every benchmark, as the recipes expect it (read-only for tests)."""
    root = tmp_path_factory.mktemp("zoo_data")
    for write in (write_kinetics400, write_ssv2, write_ucf101, write_hmdb51):
        write(root, clip_pool)
    for write_loc in (write_activitynet13, write_hacs, write_thumos14):
        write_loc(root)
    return root
