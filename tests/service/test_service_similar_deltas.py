"""Similar-moments index persistence: delta segments beside the graph, compaction, several writers, a damaged
graph answered by brute force while it is rebuilt, deletions.

Every collection here is hand-made (a few hundred random unit vectors in R^16, 20 one-second windows per video).
Expected answers are computed independently: a float64 numpy brute force over the windows read back from the
database and the embeddings files, and the answer of a fresh full build (the index files removed first).
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from servicekit import Api, wait_for
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vidstruct.service.db.models import Analysis, Video, Window
from vidstruct.service.db.session import make_engine, session_factory
from vidstruct.service.db.store import add_analysis, current_analysis
from vidstruct.service.similar import layered
from vidstruct.service.similar.index import registry
from vidstruct.service.similar.layered import LayeredIndex, stored_state
from vidstruct.service.similar.locks import space_lock
from vidstruct.service.similar.segments import list_segments
from vidstruct.service.similar.space import space_of

DIM = 16
WINDOWS = 20
T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
MODELS = {"recognizer": {"name": "r2plus1d_tiny", "task": "recognition", "checkpoint_sha256": "cd" * 32}}
SPACE = space_of(MODELS, "recognizer")
assert SPACE is not None


def add_video(factory: sessionmaker[Session], data_dir: Path, name: str, seed: int, day: int) -> str:
    """A video ``name`` with one complete analysis of ``WINDOWS`` windows (random vectors from ``seed``), its
    embeddings file written; returns the video id."""
    vectors = np.random.default_rng(seed).normal(size=(WINDOWS, DIM)).astype(np.float32)
    windows = [{"start_s": float(j), "end_s": float(j + 1), "top": [{"label": "walk", "prob": 0.9}],
                "model": "recognizer", "embedding_row": j} for j in range(WINDOWS)]  # fmt: skip
    embeddings = {"file": "emb/embeddings.npy", "rows": WINDOWS, "dim": DIM, "model": "recognizer"}
    document = {"models": MODELS, "windows": windows, "embeddings": embeddings}
    folder = f"analyses/{name}/a1"  # analyses/<video>/<analysis>: deleting a video removes analyses/<video>
    path = data_dir / folder / "emb" / "embeddings.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    with factory() as session, session.begin():
        video = Video(sha256=f"{seed:064x}", path=f"/v/{name}.mp4", stored=False, size_bytes=100,
                      duration_s=float(WINDOWS), tags=[], created_at=T0 + timedelta(days=day))  # fmt: skip
        session.add(video)
        session.flush()
        analysis = add_analysis(session, document, video_id=video.id, job_id=None, folder=folder)
        analysis.completed_at = T0 + timedelta(days=day, hours=1)
        return video.id


def worker_sync(factory: sessionmaker[Session], data_dir: Path) -> int:
    """What a worker does after a job: sync a fresh (not background) index object; its size."""
    index = LayeredIndex(data_dir / "indexes", SPACE, background=False)
    with factory() as session:
        index.sync(session, data_dir)
    return index.size


def golden(factory: sessionmaker[Session], data_dir: Path) -> dict[int, tuple[str, np.ndarray]]:
    """window id -> (video id, float64 unit vector) of every current window, read from the tables and files."""
    out: dict[int, tuple[str, np.ndarray]] = {}
    with factory() as session:
        for video_id in session.scalars(select(Video.id)).all():
            analysis = current_analysis(session, video_id)
            assert analysis is not None
            matrix = np.load(data_dir / analysis.folder / "emb" / "embeddings.npy").astype(np.float64)
            for w in session.scalars(select(Window).where(Window.analysis_id == analysis.id)).all():
                v = matrix[w.embedding_row]
                out[w.id] = (video_id, v / np.linalg.norm(v))
    return out


def query_vector(truth: dict[int, tuple[str, np.ndarray]], video_id: str, start: int, end: int) -> np.ndarray:
    """The mean of the unit vectors of ``video_id``'s windows ``start``..``end - 1`` (seconds), normalised."""
    with_video = sorted(w for w, (v, _) in truth.items() if v == video_id)
    q = np.mean([truth[w][1] for w in with_video[start:end]], axis=0)
    return q / np.linalg.norm(q)


def similar(api: Api, video_id: str, start: int, end: int, max_results: int) -> list[tuple[int, float]]:
    body = {"video_id": video_id, "start_s": float(start), "end_s": float(end), "max_results": max_results,
            "exclude_same_video": False}  # fmt: skip
    response = api.client.post("/v1/search/similar", headers=api.auth("read"), json=body)
    assert response.status_code == 200, response.text
    pairs = [(w["window_id"], w["similarity"]) for m in response.json()["moments"] for w in m["windows"]]
    return sorted(pairs, key=lambda t: (-t[1], t[0]))


def brute(truth: dict[int, tuple[str, np.ndarray]], q: np.ndarray, k: int) -> list[tuple[int, float]]:
    scored = sorted(((w, float(v @ q)) for w, (_, v) in truth.items()), key=lambda t: (-t[1], t[0]))
    return scored[:k]


def check(api: Api, videos: list[str], k: int = 100) -> list[list[tuple[int, float]]]:
    """Each video's span 2-5 s answered as the brute force says (ids in order, cosines within 1e-5)."""
    factory = api.client.app.state.service.factory
    truth = golden(factory, api.settings.data_dir)
    answers = []
    for video_id in videos:
        got = similar(api, video_id, 2, 5, k)
        expected = brute(truth, query_vector(truth, video_id, 2, 5), k)
        assert [w for w, _ in got] == [w for w, _ in expected]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)
        answers.append(got)
    return answers


def fresh_build_answers(api: Api, videos: list[str], k: int = 100) -> list[list[tuple[int, float]]]:
    """The answers after the index files are removed and rebuilt in full from the database."""
    root = api.settings.data_dir / "indexes"
    for p in root.iterdir():
        if p.suffix in (".json", ".usearch", ".npz"):
            p.unlink()
    registry(api.settings.data_dir).forget(SPACE)
    answers = [similar(api, v, 2, 5, k) for v in videos]
    assert stored_state(root, SPACE)["segments"] == 0
    return answers


def same(a: list[list[tuple[int, float]]], b: list[list[tuple[int, float]]]) -> None:
    assert [[w for w, _ in x] for x in a] == [[w for w, _ in x] for x in b]
    np.testing.assert_allclose([s for x in a for _, s in x], [s for x in b for _, s in x], atol=1e-6)


def test_deltas_and_compaction_answer_as_a_fresh_build(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = api.client.app.state.service.factory
    data, root = api.settings.data_dir, api.settings.data_dir / "indexes"
    videos = [add_video(factory, data, f"v{i}", seed=i, day=i) for i in range(5)]
    assert worker_sync(factory, data) == 5 * WINDOWS  # no graph yet: built in full
    graph = root / f"{SPACE.key}.usearch"
    before = (graph.stat().st_ino, graph.stat().st_size, graph.stat().st_mtime_ns)
    for i in range(5, 10):  # five "jobs": each adds a segment, the graph file is not rewritten
        videos.append(add_video(factory, data, f"v{i}", seed=i, day=i))
        assert worker_sync(factory, data) == (i + 1) * WINDOWS
    assert (graph.stat().st_ino, graph.stat().st_size, graph.stat().st_mtime_ns) == before
    state = stored_state(root, SPACE)
    assert state["segments"] == 5 and state["size"] == 10 * WINDOWS and len(state["analyses"]) == 10
    with_deltas = check(api, videos)
    index = registry(data).get(SPACE)
    assert len(index.delta) == 5 * WINDOWS and index.main is not None and index.main.size == 5 * WINDOWS
    same(with_deltas, fresh_build_answers(api, videos))

    # three more jobs in segments, then a compaction (bound lowered) merges them into the graph
    for i in range(10, 13):
        videos.append(add_video(factory, data, f"v{i}", seed=i, day=i))
        worker_sync(factory, data)
    assert stored_state(root, SPACE)["segments"] == 3
    before = (graph.stat().st_ino, graph.stat().st_size)
    monkeypatch.setattr(layered, "COMPACT_ROWS", 3 * WINDOWS)
    monkeypatch.setattr(layered, "COMPACT_FRACTION", 0.0)
    videos.append(add_video(factory, data, "v13", seed=13, day=13))
    assert worker_sync(factory, data) == 14 * WINDOWS
    state = stored_state(root, SPACE)
    assert state["segments"] == 0 and state["size"] == 14 * WINDOWS and len(state["analyses"]) == 14
    assert (graph.stat().st_ino, graph.stat().st_size) != before
    compacted = check(api, videos)
    index = registry(data).get(SPACE)
    assert index.main is not None and index.main.size == 14 * WINDOWS and len(index.delta) == 0
    same(compacted, fresh_build_answers(api, videos))


def _adder(db_url: str, data_dir: str, base: int, count: int, barrier: Any) -> None:
    """A second process's worker: adds ``count`` videos one by one, syncing the index after each (compaction
    bound low, so merges interleave with the other process's appends)."""
    layered.COMPACT_ROWS, layered.COMPACT_FRACTION = 3 * WINDOWS, 0.0
    engine = make_engine(db_url)
    factory = session_factory(engine)
    barrier.wait(timeout=120)
    for i in range(count):
        add_video(factory, Path(data_dir), f"p{base + i}", seed=base + i, day=base + i)
        worker_sync(factory, Path(data_dir))
    engine.dispose()


def test_two_processes_adding_at_once_lose_nothing(api: Api) -> None:
    factory = api.client.app.state.service.factory
    data = api.settings.data_dir
    base = [add_video(factory, data, f"v{i}", seed=i, day=i) for i in range(3)]
    worker_sync(factory, data)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_adder, args=(api.settings.db_url, str(data), b, 6, barrier)) for b in (100, 200)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    with factory() as session:
        analyses = set(session.scalars(select(Analysis.id)).all())
        videos = session.scalars(select(Video.id)).all()
    state = stored_state(data / "indexes", SPACE)
    assert set(state["analyses"]) == analyses and state["size"] == 15 * WINDOWS and state["dead"] == []
    assert state["segments"] < 12  # the bound was passed: at least one compaction ran among the appends
    check(api, [*base, *videos[-3:]])


def test_a_damaged_graph_answers_by_brute_force_while_rebuilt(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layered, "INLINE_MAX_WINDOWS", 0)  # the API rebuilds in the background whatever the size
    factory = api.client.app.state.service.factory
    data, root = api.settings.data_dir, api.settings.data_dir / "indexes"
    videos = [add_video(factory, data, f"v{i}", seed=i, day=i) for i in range(6)]
    worker_sync(factory, data)
    first = check(api, videos)
    index = registry(data).get(SPACE)
    graph = root / f"{SPACE.key}.usearch"
    os.truncate(graph, graph.stat().st_size // 2)
    with space_lock(root, SPACE.key, "build"):  # holds the rebuild back: the queries cannot wait for it
        same(check(api, videos), first)  # answered by brute force over the database's windows
        assert not index.usable and index.fallback is not None and len(index.fallback) == 6 * WINDOWS
        assert graph.stat().st_size < stored_size(root)
    assert index.join_rebuild(timeout=120)
    same(check(api, videos), first)
    assert index.usable and index.fallback is None and graph.stat().st_size == stored_size(root)

    # a damaged delta segment: the same path (brute force, then a rebuild that supersedes the segment)
    videos.append(add_video(factory, data, "v6", seed=6, day=6))
    worker_sync(factory, data)
    (segment,) = [p for _, p in list_segments(root, SPACE.key)]
    segment.write_bytes(segment.read_bytes()[:100])
    answers = check(api, videos)
    wait_for("the background rebuild", lambda: index.join_rebuild(timeout=1))
    assert list_segments(root, SPACE.key) == [] and stored_state(root, SPACE)["size"] == 7 * WINDOWS
    same(check(api, videos), answers)


def stored_size(root: Path) -> int:
    import json

    return int(json.loads((root / f"{SPACE.key}.json").read_text())["graph_bytes"])


def test_deleting_a_video_removes_its_windows(api: Api) -> None:
    factory = api.client.app.state.service.factory
    data, root = api.settings.data_dir, api.settings.data_dir / "indexes"
    videos = [add_video(factory, data, f"v{i}", seed=i, day=i) for i in range(8)]
    worker_sync(factory, data)
    videos.append(add_video(factory, data, "v8", seed=8, day=8))  # in a delta segment
    worker_sync(factory, data)
    check(api, videos)
    deleted = (videos[1], videos[8])  # one in the graph, one in a segment; 40 of 180 windows (under a quarter)
    with factory() as session:
        gone = set(session.scalars(select(Window.id).where(Window.video_id.in_(deleted))))
    for video_id in deleted:
        assert api.client.delete(f"/v1/videos/{video_id}", headers=api.auth("admin")).status_code == 200
    kept = [v for v in videos if v not in deleted]
    answers = check(api, kept, k=100)
    assert len(gone) == 2 * WINDOWS and not gone & {w for a in answers for w, _ in a}
    assert len(stored_state(root, SPACE)["dead"]) == 2  # marked dead in a segment, the graph untouched
    # a new video after the deletion (SQLite may reuse the deleted window ids) answers with its own vectors
    kept.append(add_video(factory, data, "v9", seed=9, day=9))
    worker_sync(factory, data)
    check(api, kept, k=100)
    same(check(api, kept), fresh_build_answers(api, kept))
