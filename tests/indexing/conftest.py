"""Fixtures of the indexing tests: the service tests' database fixtures (``pg_server``, ``db_url``: SQLite and the
same PostgreSQL server), its tiny profile (``profiles``), reused from ``tests/service/conftest.py`` (imported under
another module name, nothing copied); a collection of 3 tiny synthetic videos and a corrupt file."""

from __future__ import annotations

from pathlib import Path

import pytest
from indexkit import CUTS, make_collection, service_conftest

pg_server = service_conftest.pg_server
db_url = service_conftest.db_url
profiles = service_conftest.profiles


@pytest.fixture(scope="session")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``a.mp4``, ``b.mp4``, ``c.mp4`` (2 s, 64 px, one cut each at ``CUTS``) and ``broken.mp4`` (not a video)."""
    return make_collection(tmp_path_factory.mktemp("collection"))


__all__ = ["CUTS", "collection", "db_url", "pg_server", "profiles"]
