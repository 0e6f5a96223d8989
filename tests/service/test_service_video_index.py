"""Migration 0009: ``videos (created_at, id)`` is indexed, and ``GET /v1/videos``'s page query walks that index
instead of sorting every video (SQLite's query plan, read with EXPLAIN QUERY PLAN on the statement the request ran);
the migration goes down and up again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from servicekit import Api
from sqlalchemy import event, inspect, text

from vidstruct.service.db import migrate
from vidstruct.service.db.migrate import upgrade
from vidstruct.service.db.models import Video
from vidstruct.service.db.session import make_engine


def _add_videos(api: Api, count: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with api.session() as session, session.begin():
        for i in range(count):
            session.add(Video(sha256=f"{i:064x}", path=f"/v/{i}.mp4", stored=False, size_bytes=1,
                              created_at=start + timedelta(seconds=i // 2)))  # fmt: skip


def _page_plan(api: Api, url: str) -> list[str]:
    """The query plan lines of the statement that selected the page's videos."""
    engine = api.client.app.state.service.engine  # type: ignore[attr-defined]
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        answer = api.client.get(url, headers=api.auth("read"))
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert answer.status_code == 200, answer.text
    [(statement, parameters)] = [(s, p) for s, p in seen if "FROM videos" in s and "ORDER BY videos.created_at" in s]
    fresh = make_engine(api.settings.database_url)  # a new connection: no statement prepared before the schema changed
    try:
        with fresh.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    finally:
        fresh.dispose()
    return [row[-1] for row in rows]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_newest_page_walks_the_created_index(api: Api) -> None:
    _add_videos(api, 40)
    for url in ("/v1/videos?max_results=10", "/v1/videos?max_results=10&order=asc"):
        plan = _page_plan(api, url)
        assert any("ix_videos_created_id" in line for line in plan), plan
        assert not any("TEMP B-TREE FOR ORDER BY" in line for line in plan), plan
    token = api.client.get("/v1/videos?max_results=10", headers=api.auth("read")).json()["next_token"]
    plan = _page_plan(api, f"/v1/videos?max_results=10&next_token={token}")
    assert any("ix_videos_created_id" in line for line in plan), plan
    # without the index the same statement sorts every video: the check above can fail
    engine = api.client.app.state.service.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_videos_created_id"))
        names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars().all()
    assert "ix_videos_created_id" not in names
    plan = _page_plan(api, "/v1/videos?max_results=10")
    assert any("TEMP B-TREE FOR ORDER BY" in line for line in plan), plan


def test_the_migration_adds_and_removes_the_index(db_url: str) -> None:
    engine = make_engine(db_url)
    assert upgrade(engine, "0008") == "0008"
    assert "ix_videos_created_id" not in {ix["name"] for ix in inspect(engine).get_indexes("videos")}
    assert upgrade(engine, "0009") == "0009"
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("videos")}
    assert indexes["ix_videos_created_id"] == ["created_at", "id"]
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    assert "ix_videos_created_id" not in {ix["name"] for ix in inspect(engine).get_indexes("videos")}
    engine.dispose()
