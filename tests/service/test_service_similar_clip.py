"""Similar moments from an uploaded clip (``POST /v1/search/similar/clip``) on SQLite and PostgreSQL.

A collection of three 3 s videos is analyzed by a worker with the tiny profile (``servicekit``: 1 s windows every
0.5 s, a constant classifier over a backbone whose pooled features follow the pixels). The clip is frames 15-29
(1.5-3.0 s) of video A, decoded and written again with :mod:`vidstruct.io` (re-encoded, so not the same bytes).
Expected answer, computed independently of the service's clip code: the clip analyzed by the ordinary analysis
pipeline (:func:`vidstruct.pipeline.analyze.analyze_video`), the mean of its L2-normalised window embeddings,
and a float64 brute-force cosine over every stored window of the collection.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from servicekit import CONSTANT_PROB, analyse_uploads, cut_video, post_clip
from sqlalchemy import select

from vidstruct.io import VideoReader, write_video
from vidstruct.pipeline.analyze import analyze_video
from vidstruct.service.db.models import Analysis, Window
from vidstruct.service.jobs.analysis import ModelCache
from vidstruct.service.similar import clip
from vidstruct.service.similar.clip import MAX_CLIP_S

if TYPE_CHECKING:
    from servicekit import Api  # only for the annotations

SIZE, FPS = 64, 10.0


def _bars(path: Path, seconds: float, colour: tuple[int, int, int], vertical: bool) -> Path:
    """A background of ``colour`` with a white bar sweeping across (down when ``vertical``)."""
    n = int(round(seconds * FPS))
    frames = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(n):
        frames[i] = colour
        x = int(i * (SIZE - 12) / (n - 1))
        if vertical:
            frames[i, x : x + 12, :] = 255
        else:
            frames[i, :, x : x + 12] = 255
    return write_video(path, frames, FPS)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    found = {
        "A": cut_video(root / "a.mp4", 3.0, cut_s=1.5),
        "B": _bars(root / "b.mp4", 3.0, (30, 160, 40), vertical=True),
        "C": _bars(root / "c.mp4", 3.0, (150, 40, 150), vertical=False),
    }
    with VideoReader(found["A"]) as reader:
        frames = reader.get_frames(list(range(15, 30))).numpy()  # uint8 [15, 64, 64, 3]: 1.5 s to 3.0 s of A
    found["clip"] = write_video(root / "clip.mp4", frames, FPS)
    found["short"] = write_video(root / "short.mp4", frames[:5], FPS)  # 0.5 s: shorter than a 1 s window
    long_frames = np.zeros((2 * (int(MAX_CLIP_S) + 2), 16, 16, 3), dtype=np.uint8)
    found["long"] = write_video(root / "long.mp4", long_frames, 2.0)  # 62 s at 2 fps
    (root / "notes.mp4").write_bytes(b"these are not video bytes " * 40)
    found["not_video"] = root / "notes.mp4"
    return found


def _expected(api: Api, clip: Path, tmp_path: Path, max_results: int) -> list[tuple[int, float]]:
    """``(window id, cosine)`` of the ``max_results`` nearest windows, by the analysis pipeline and brute force."""
    models = ModelCache().models_for(api.settings, "tiny")
    result = analyze_video(models, clip, tmp_path / "expected", video_id="clip")
    rows = np.load(result.folder / "embeddings.npy").astype(np.float64)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    query = rows.mean(axis=0)
    query /= np.linalg.norm(query)
    scored = []
    with api.session() as session:
        for analysis in session.scalars(select(Analysis)).all():
            matrix = np.load(api.settings.data_dir / analysis.folder / "embeddings.npy").astype(np.float64)
            windows = session.scalars(select(Window).where(Window.analysis_id == analysis.id)).all()
            for w in windows:
                v, norm = matrix[w.embedding_row], np.linalg.norm(matrix[w.embedding_row])
                scored.append((w.id, float(v @ query / norm) if norm > 0 else 0.0))  # a zero vector: cosine 0
    scored.sort(key=lambda s: (-s[1], s[0]))
    return scored[:max_results]


def test_a_clip_cut_from_a_video_finds_that_video_first(api: Api, files: dict[str, Path], tmp_path: Path) -> None:
    videos = analyse_uploads(api, files, ("A", "B", "C"))
    answer = post_clip(api, files["clip"], max_results=6)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    first = body["moments"][0]
    assert first["video_id"] == videos["A"]
    assert first["start_s"] < 3.0 and first["end_s"] > 1.5  # the moment overlaps the span the clip was cut from
    assert body["query"]["clip"] == {"duration_s": 1.5, "windows": 3, "window_s": 1.0, "stride_s": 0.5}
    assert body["query"]["profile"] == "tiny" and body["model"]["name"] == "r2plus1d_tiny"
    # the same windows and cosines as the analysis pipeline + brute force
    got = {w["window_id"]: w["similarity"] for m in body["moments"] for w in m["windows"]}
    expected = dict(_expected(api, files["clip"], tmp_path, 6))
    assert set(got) == set(expected) and len(got) == 6
    assert [got[k] for k in sorted(got)] == pytest.approx([expected[k] for k in sorted(got)], abs=1e-5)
    best = max(expected, key=lambda k: expected[k])
    assert best in {w["window_id"] for w in first["windows"]}

    # the space named by profile or by key gives the same answer; filters apply as for a span query
    key = body["model"]["key"]
    for fields in ({"profile": "tiny"}, {"model": key}):
        again = post_clip(api, files["clip"], max_results=6, **fields)
        assert again.status_code == 200 and again.json()["moments"] == body["moments"], again.text
    # every window's best label is walk with CONSTANT_PROB = softmax([2, 0, 0, 0])[0] ~ 0.711: 0.7 keeps all, 0.72 none
    assert 0.7 < CONSTANT_PROB < 0.72
    kept = post_clip(api, files["clip"], max_results=6, labels="walk", min_score=0.7).json()["moments"]
    assert kept == body["moments"]
    assert post_clip(api, files["clip"], max_results=6, labels="walk", min_score=0.72).json()["moments"] == []
    tagged = post_clip(api, files["clip"], tags="street").json()
    assert tagged["moments"] == []  # no video carries the tag


def test_clip_errors_are_problems_and_nothing_is_stored(
    api: Api, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads = api.settings.uploads_dir
    empty = post_clip(api, files["clip"])
    assert empty.status_code == 422 and "no analysis of the collection has embeddings" in empty.json()["detail"]
    analyse_uploads(api, files, ("A", "B", "C"))
    cases = [
        (files["not_video"], {}, 422, "not a readable video"),
        (files["short"], {}, 422, "shorter than one window of its model (1 s)"),
        (files["long"], {}, 422, f"at most {MAX_CLIP_S:g} s"),
        (files["clip"], {"model": "nope-0123456789abcdef"}, 404, "no embedding model 'nope-0123456789abcdef'"),
        (files["clip"], {"profile": "nope"}, 422, "no analysis profile named 'nope'"),
        (files["clip"], {"profile": "tiny", "model": "x"}, 422, "profile or model, not both"),
        (files["clip"], {"max_results": 0}, 422, "max_results"),
        (files["clip"], {"colour": "red"}, 422, "colour"),
    ]
    for path, fields, status, detail in cases:
        answer = post_clip(api, path, **fields)
        assert answer.status_code == status, (path.name, fields, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert detail in answer.json()["detail"], (path.name, fields, answer.text)
    no_file = api.client.post("/v1/search/similar/clip", data={"profile": "tiny"}, headers=api.auth("read"))
    assert no_file.status_code == 422 and "'file'" in no_file.json()["detail"]
    assert post_clip(api, files["clip"]).status_code == 200
    monkeypatch.setattr(clip, "WAIT_S", 0.2)
    with clip._ONE_AT_A_TIME:  # another clip is being embedded in this process: wait, then 503
        busy = post_clip(api, files["clip"])
    assert busy.status_code == 503 and "another clip is being embedded" in busy.json()["detail"]
    assert post_clip(api, files["clip"]).status_code == 200  # its turn came
    assert list(uploads.iterdir()) == []  # no upload kept, whatever the answer
    assert api.client.post("/v1/search/similar/clip", files={"file": ("c.mp4", b"x")}).status_code == 401
    with api.session() as session:  # the clip was never added to the collection
        assert len(session.scalars(select(Analysis)).all()) == 3
