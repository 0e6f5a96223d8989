"""Similar moments (``POST /v1/search/similar``) on a hand-made collection whose window embeddings are chosen
here, on SQLite and PostgreSQL. Expected rankings are brute-force numpy cosines over the windows that may be
returned (newest analysis of each video, the query's embedding model), never the service's own output.

=====  ==========  =====================================================================  =======
video  duration s  windows (1 s each; vectors in R^8)                                     model
=====  ==========  =====================================================================  =======
Q      4           0-1 .. 3-4 random; the query is the span 0-2 (mean of windows 0, 1)     A
V1     6           0-1 .. 5-6: windows 2-3, 3-4, 4-5 = q + small noise, the rest random    A
V2     5           0-1 .. 4-5 random but 3-4 = q + larger noise; tag ``street``             A
V3     3           old analysis: every window = q; newest: 3 random windows                A
V4     3           every window = q                                                        B
V5     5           0-1, 1-2, 3-4 (no window over 2-3), random                              A
V6     3           an analysis without embeddings                                          A
V7     3           random                                                                  B
=====  ==========  =====================================================================  =======

Model A and B share the backbone name and differ by checkpoint hash (a retrained model): their spaces never mix.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from servicekit import Api
from sqlalchemy import select

from vidstruct.service.db.models import Analysis, Job, Video, Window
from vidstruct.service.db.store import add_analysis
from vidstruct.service.similar.index import registry
from vidstruct.service.similar.layered import stored_state
from vidstruct.service.similar.space import space_of
from vidstruct.service.similar.updates import index_finished_job

DIM = 8
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
MODEL_A = {"recognizer": {"name": "r2plus1d_tiny", "task": "recognition", "checkpoint_sha256": "aa" * 32}}
MODEL_B = {"recognizer": {"name": "r2plus1d_tiny", "task": "recognition", "checkpoint_sha256": "bb" * 32}}
KEY_A = space_of(MODEL_A, "recognizer").key  # type: ignore[union-attr]
KEY_B = space_of(MODEL_B, "recognizer").key  # type: ignore[union-attr]


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class Collection:
    """The table above, inserted into the API's database and data folder."""

    def __init__(self, api: Api, seed: int = 7) -> None:
        self.api = api
        self.rng = np.random.default_rng(seed)
        self.videos: dict[str, str] = {}
        # window id -> (video name, analysis id, start_s, end_s, space key, raw vector)
        self.windows: dict[int, tuple[str, str, float, float, str, np.ndarray]] = {}
        self.current: dict[str, str] = {}  # video name -> newest analysis id
        q_rows = self.rng.normal(size=(4, DIM))
        self.q = unit(unit(q_rows[:2]).mean(axis=0))
        self.add("Q", 4.0, MODEL_A, q_rows, day=0)
        v1 = self.rng.normal(size=(6, DIM))
        v1[2:5] = self.q + 0.05 * self.rng.normal(size=(3, DIM))
        self.add("V1", 6.0, MODEL_A, v1, day=1)
        v2 = self.rng.normal(size=(5, DIM))
        v2[3] = self.q + 0.4 * self.rng.normal(size=DIM)
        self.add("V2", 5.0, MODEL_A, v2, day=2, tags=["street"])
        self.add("V3", 3.0, MODEL_A, np.tile(self.q, (3, 1)), day=3)
        self.add("V3", 3.0, MODEL_A, self.rng.normal(size=(3, DIM)), day=4)  # the newest of V3
        self.add("V4", 3.0, MODEL_B, np.tile(self.q, (3, 1)), day=5)
        self.add("V5", 5.0, MODEL_A, self.rng.normal(size=(3, DIM)), day=6, spans=[(0, 1), (1, 2), (3, 4)])
        self.add("V6", 3.0, MODEL_A, None, day=7)
        self.add("V7", 3.0, MODEL_B, self.rng.normal(size=(3, DIM)), day=8)

    def add(
        self,
        name: str,
        duration: float,
        models: dict[str, Any],
        vectors: np.ndarray | None,
        *,
        day: int,
        tags: list[str] | None = None,
        spans: list[tuple[float, float]] | None = None,
    ) -> str:
        """A video (once) and a new analysis of it completed on ``day``; returns the analysis id."""
        count = 3 if vectors is None else len(vectors)
        spans = spans or [(float(i), float(i + 1)) for i in range(count)]
        windows = [
            {"start_s": s, "end_s": e, "top": [{"label": "walk", "prob": 0.9}], "model": "recognizer",
             "embedding_row": None if vectors is None else j}
            for j, (s, e) in enumerate(spans)
        ]  # fmt: skip
        document: dict[str, Any] = {"models": models, "windows": windows, "embeddings": None}
        if vectors is not None:
            document["embeddings"] = {"file": "emb/embeddings.npy", "rows": count, "dim": DIM, "model": "recognizer"}
        with self.api.session() as session, session.begin():
            if name not in self.videos:
                video = Video(sha256=f"{len(self.videos):064x}", path=f"/v/{name}.mp4", stored=False, size_bytes=100,
                              duration_s=duration, tags=tags or [], created_at=T0 + timedelta(days=day))  # fmt: skip
                session.add(video)
                session.flush()
                self.videos[name] = video.id
            folder = f"analyses/{name}-{day}"
            analysis = add_analysis(session, document, video_id=self.videos[name], job_id=None, folder=folder)
            analysis.completed_at = T0 + timedelta(days=day, hours=1)
            session.flush()
            ids = session.scalars(select(Window.id).where(Window.analysis_id == analysis.id).order_by(Window.id)).all()
        if vectors is not None:
            path = self.api.settings.data_dir / folder / "emb" / "embeddings.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, np.asarray(vectors, dtype=np.float32))
            key = space_of(models, "recognizer").key  # type: ignore[union-attr]
            for window_id, (s, e), v in zip(ids, spans, vectors):
                self.windows[window_id] = (name, analysis.id, s, e, key, np.asarray(v, dtype=np.float64))
        self.current[name] = analysis.id
        return analysis.id

    def brute_force(self, query: np.ndarray, key: str, *, exclude: str | None) -> list[tuple[int, float]]:
        """(window id, cosine) of every returnable window of space ``key``, best first (numpy, float64)."""
        scored = [
            (wid, float(unit(v) @ unit(query)))
            for wid, (name, aid, _s, _e, k, v) in self.windows.items()
            if k == key and aid == self.current[name] and name != exclude
        ]
        return sorted(scored, key=lambda t: (-t[1], t[0]))


def ask(api: Api, **body: Any) -> Any:
    return api.client.post("/v1/search/similar", headers=api.auth("read"), json=body)


def similar(api: Api, **body: Any) -> dict[str, Any]:
    response = ask(api, **body)
    assert response.status_code == 200, response.text
    return response.json()


def flat(answer: dict[str, Any]) -> list[tuple[int, float]]:
    """(window id, similarity) of every window of every moment, best first."""
    pairs = [(w["window_id"], w["similarity"]) for m in answer["moments"] for w in m["windows"]]
    return sorted(pairs, key=lambda t: (-t[1], t[0]))


def test_ranking_grouping_and_filters(api: Api) -> None:
    col = Collection(api)
    expected = col.brute_force(col.q, KEY_A, exclude="Q")
    assert len(expected) == 6 + 5 + 3 + 3  # V1, V2, V3 (newest), V5
    answer = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=100)
    got = flat(answer)
    assert [w for w, _ in got] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)
    assert answer["model"]["key"] == KEY_A and answer["model"]["checkpoint_sha256"] == "aa" * 32
    assert answer["query"]["windows"] == 2 and answer["index"]["size"] == 6 + 5 + 3 + 3 + 4  # Q is indexed too
    assert all(m["model_version"]["key"] == KEY_A for m in answer["moments"])
    # moments: the windows of one video whose spans overlap or touch; best moment first
    for m in answer["moments"]:
        spans = sorted((w["start_s"], w["end_s"]) for w in m["windows"])
        assert (m["start_s"], m["end_s"]) == (spans[0][0], max(e for _, e in spans))
        assert all(b[0] <= a[1] for a, b in zip(spans, spans[1:]))
        assert m["similarity"] == max(w["similarity"] for w in m["windows"])
    assert [m["similarity"] for m in answer["moments"]] == sorted((m["similarity"] for m in answer["moments"]),
                                                                  reverse=True)  # fmt: skip

    # the top 3 windows are V1's 2-5 s (built so; checked by brute force): one moment of three windows
    v1 = col.videos["V1"]
    assert {col.windows[w][0] for w, _ in expected[:3]} == {"V1"}
    top = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=3)["moments"]
    assert [(m["video_id"], m["start_s"], m["end_s"], len(m["windows"])) for m in top] == [(v1, 2.0, 5.0, 3)]
    assert top[0]["similarity"] == pytest.approx(expected[0][1], abs=1e-5)
    four = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=4)["moments"]
    fourth = col.windows[expected[3][0]]
    assert [(m["video_id"], m["start_s"], m["end_s"]) for m in four][1:] == [
        (col.videos[fourth[0]], fourth[2], fourth[3])
    ]

    # the query video itself: its two query windows are the nearest (their mean is q)
    own = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=100, exclude_same_video=False)
    with_q = col.brute_force(col.q, KEY_A, exclude=None)
    assert [w for w, _ in flat(own)] == [w for w, _ in with_q]

    # a filter on the hit's video: only V2 carries "street"
    street = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=100, tags=["street"])
    v2_expected = [(w, s) for w, s in expected if col.windows[w][0] == "V2"]
    assert [w for w, _ in flat(street)] == [w for w, _ in v2_expected]
    none = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, labels=["run"])
    assert none["moments"] == []


def test_spaces_never_mix_and_newest_analysis_only(api: Api) -> None:
    col = Collection(api)
    # V4 (model B, every window = q): only model B's other video answers, though model A's V1 is nearer to q
    answer = similar(api, video_id=col.videos["V4"], start_s=0.0, end_s=3.0, max_results=100)
    expected = col.brute_force(col.q, KEY_B, exclude="V4")
    assert [w for w, _ in flat(answer)] == [w for w, _ in expected]
    assert {m["video_id"] for m in answer["moments"]} == {col.videos["V7"]}
    assert answer["model"]["key"] == KEY_B and answer["model"]["checkpoint_sha256"] == "bb" * 32
    assert answer["index"]["size"] == 6  # V4 + V7: model A's windows are in another index
    files = sorted(p.name for p in (api.settings.data_dir / "indexes").iterdir() if p.suffix != ".lock")
    assert files == [f"{KEY_B}.build", f"{KEY_B}.json", f"{KEY_B}.usearch"]  # graph, manifest, build lock

    # V3's old analysis (every window = q) is never returned; a re-analysis of V1 replaces its close windows
    first = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=100)
    old_v3 = {w for w, t in col.windows.items() if t[0] == "V3" and t[1] != col.current["V3"]}
    assert old_v3 and not old_v3 & {w for w, _ in flat(first)}
    space_a = space_of(MODEL_A, "recognizer")
    assert space_a is not None
    # a re-analysis of V5: its 3 old windows (of 21) stay in the graph, marked dead, never returned
    old_v5 = col.current["V5"]
    col.add("V5", 5.0, MODEL_A, col.rng.normal(size=(3, DIM)), day=9)
    second = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=100)
    assert [w for w, _ in flat(second)] == [w for w, _ in col.brute_force(col.q, KEY_A, exclude="Q")]
    manifest = stored_state(api.settings.data_dir / "indexes", space_a)  # graph + delta segments
    assert manifest["dead"] == [old_v5] and manifest["size"] == 21 + 3
    # a re-analysis of V1 (whose old windows are the nearest): 9 dead windows of 30 are over a quarter: rebuilt
    old_v1 = col.current["V1"]
    col.add("V1", 6.0, MODEL_A, col.rng.normal(size=(6, DIM)), day=10)
    third = similar(api, video_id=col.videos["Q"], start_s=0.0, end_s=2.0, max_results=100)
    assert [w for w, _ in flat(third)] == [w for w, _ in col.brute_force(col.q, KEY_A, exclude="Q")]
    assert not {w for w, t in col.windows.items() if t[1] == old_v1} & {w for w, _ in flat(third)}
    manifest = stored_state(api.settings.data_dir / "indexes", space_a)
    assert manifest["dead"] == [] and manifest["size"] == 21 and old_v1 not in manifest["analyses"]


def test_index_rebuilt_when_lost_or_corrupt(api: Api) -> None:
    col = Collection(api)
    body = {"video_id": col.videos["Q"], "start_s": 0.5, "end_s": 1.5, "max_results": 7}
    first = similar(api, **body)
    root: Path = api.settings.data_dir / "indexes"
    graph, manifest = root / f"{KEY_A}.usearch", root / f"{KEY_A}.json"
    assert graph.is_file() and manifest.is_file()
    graph.unlink()
    manifest.unlink()
    assert similar(api, **body)["moments"] == first["moments"]  # the process's copy notices and rebuilds
    assert graph.is_file() and manifest.is_file()
    registry(api.settings.data_dir).forget(space_of(MODEL_A, "recognizer"))  # type: ignore[arg-type]
    manifest.write_text("{not json")  # a new process finds a corrupt manifest: rebuilt from the database
    assert similar(api, **body)["moments"] == first["moments"]
    assert json.loads(manifest.read_text())["size"] == 6 + 5 + 3 + 3 + 4
    expected = col.brute_force(col.q, KEY_A, exclude="Q")  # the span 0.5-1.5 overlaps windows 0 and 1: q again
    assert [w for w, _ in flat(first)] == [w for w, _ in expected[:7]]


def test_bad_requests_are_problems(api: Api) -> None:
    col = Collection(api)
    q = col.videos["Q"]
    cases: list[tuple[dict[str, Any], int]] = [
        ({"video_id": "0" * 32, "start_s": 0, "end_s": 1}, 404),  # unknown video
        ({"video_id": q, "start_s": 3, "end_s": 9}, 422),  # past the end of the video (4 s)
        ({"video_id": q, "start_s": 5, "end_s": 6}, 422),  # wholly outside it
        ({"video_id": col.videos["V5"], "start_s": 2.2, "end_s": 2.8}, 422),  # no window over 2-3 s
        ({"video_id": col.videos["V6"], "start_s": 0, "end_s": 1}, 422),  # no embeddings
        ({"video_id": q, "start_s": 2, "end_s": 1}, 422),  # empty span
        ({"video_id": q, "start_s": 1, "end_s": 1}, 422),
        ({"video_id": q, "start_s": "soon", "end_s": 1}, 422),  # wrong types
        ({"video_id": 12, "start_s": 0, "end_s": 1}, 422),
        ({"video_id": q, "start_s": 0, "end_s": 1, "max_results": "many"}, 422),
        ({"video_id": q, "start_s": 0, "end_s": 1, "max_results": 0}, 422),
        ({"video_id": q, "start_s": 0, "end_s": 1, "exclude_same_video": [1]}, 422),
        ({"video_id": q, "start_s": -1, "end_s": 1}, 422),
        ({"video_id": q, "start_s": 0}, 422),  # missing end
        ({"video_id": q, "start_s": 0, "end_s": 1, "labels": ["a;b"]}, 422),  # a bad label
        ({"video_id": q, "start_s": 0, "end_s": 1, "min_score": 2}, 422),
        ({"video_id": q, "start_s": 0, "end_s": 1, "colour": "red"}, 422),  # unknown field
        ({"video_id": "../../etc/passwd", "start_s": 0, "end_s": 1}, 422),
    ]
    for body, status in cases:
        response = ask(api, **body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), body
        assert response.json()["status"] == status
    raw = api.client.post("/v1/search/similar", headers={**api.auth("read"), "Content-Type": "application/json"},
                          content=b"{not json")  # fmt: skip
    assert raw.status_code == 422
    assert api.client.post("/v1/search/similar", json={"video_id": q, "start_s": 0, "end_s": 1}).status_code == 401


def test_a_finished_job_updates_the_index(api: Api, video_bytes: bytes) -> None:
    files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
    submitted = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data={"features": "labels"})
    assert submitted.status_code in (200, 202), submitted.text
    assert api.worker().run(exit_when_idle=True) == 1
    with api.session() as session:
        job = session.get(Job, submitted.json()["job_id"])
        assert job is not None and job.status == "SUCCEEDED"
        windows = session.scalars(select(Window).where(Window.analysis_id == job.analysis_id)).all()
        video_id = job.video_id
    manifests = list((api.settings.data_dir / "indexes").glob("*.json"))  # written by the worker, before any query
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["analyses"] == {job.analysis_id: len(windows)} and manifest["size"] == len(windows) > 0
    assert manifest["space"]["name"] == "r2plus1d_tiny" and len(manifest["space"]["checkpoint_sha256"]) == 64
    # its own windows answer a query on it; the nearest to the span 0-1 s is computed here from the file
    answer = similar(api, video_id=video_id, start_s=0.0, end_s=1.0, exclude_same_video=False, max_results=50)
    with api.session() as session:
        analysis = session.get(Analysis, job.analysis_id)
        emb = np.load(api.settings.data_dir / analysis.folder / analysis.document["embeddings"]["file"])
    rows = {w.id: emb[w.embedding_row].astype(np.float64) for w in windows}
    q = unit(np.mean([unit(rows[w.id]) for w in windows if w.start_s < 1.0 and w.end_s > 0.0], axis=0))
    expected = sorted(((wid, float(unit(v) @ q)) for wid, v in rows.items()), key=lambda t: (-t[1], t[0]))
    np.testing.assert_allclose([s for _, s in flat(answer)], [s for _, s in expected], atol=1e-5)
    assert index_finished_job(api.settings.data_dir, api.client.app.state.service.factory, job.id) == len(windows)


def test_an_index_failure_never_fails_the_job(api: Api, video_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    from vidstruct.service.jobs import worker as worker_module

    def broken(*_args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(worker_module, "index_finished_job", broken)
    files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
    submitted = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data={"features": "labels"})
    assert api.worker().run(exit_when_idle=True) == 1
    with api.session() as session:
        job = session.get(Job, submitted.json()["job_id"])
        assert job is not None and job.status == "SUCCEEDED" and job.error is None
        count = len(session.scalars(select(Window.id).where(Window.analysis_id == job.analysis_id)).all())
    assert not (api.settings.data_dir / "indexes").exists()
    # the first query builds the index from the windows table
    answer = similar(api, video_id=job.video_id, start_s=0.0, end_s=1.0, exclude_same_video=False, max_results=50)
    assert answer["index"]["size"] == count and len(flat(answer)) == count


def test_random_requests_never_fail_the_server(api: Api) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    col = Collection(api)
    ids = [*col.videos.values(), "f" * 32, "not-an-id"]
    number = st.one_of(st.floats(-2, 12, allow_nan=False), st.integers(-2, 12), st.text(max_size=3), st.none())
    body = st.fixed_dictionaries(
        {"video_id": st.sampled_from(ids), "start_s": number, "end_s": number},
        optional={
            "max_results": st.one_of(st.integers(-1, 120), st.text(max_size=2)),
            "exclude_same_video": st.one_of(st.booleans(), st.integers(0, 2)),
            "labels": st.lists(st.sampled_from(["walk", "run", "a;b", "", "x" * 201]), max_size=3),
            "min_score": st.floats(-0.5, 1.5, allow_nan=False),
            "tags": st.lists(st.sampled_from(["street", "none", "'; drop table windows; --"]), max_size=2),
            "max_duration_s": st.floats(0, 10, allow_nan=False),
        },
    )

    @given(body=body)
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def no_5xx(body: dict[str, Any]) -> None:
        response = ask(api, **body)
        assert response.status_code in (200, 404, 422), (body, response.text)
        if response.status_code == 200:
            answer = response.json()
            assert all(m["video_id"] != body["video_id"] for m in answer["moments"]) or not body.get(
                "exclude_same_video", True
            )

    no_5xx()
