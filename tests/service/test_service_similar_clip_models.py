"""Which models a clip query loads (``POST /v1/search/similar/clip``), and that its embedding is analysis's.

The profile ``tiny`` here has a content shot detector and a recognizer (``servicekit``'s constant backbone) with
1 s windows every 1 s, so a 1 s clip cut at a window boundary is one window, made of the same frames as that
window of the analysed video. Model constructions (the registry's ``build``), checkpoint loads and the loaders of
every other model of a profile are counted by monkeypatched wrappers.

Independent expectations: the clip's embedding computed here from its decoded frames (the frame indices worked
out by hand, the data layer's eval transform, the model's ``forward_features``), compared with the rows of the
analysis's ``embeddings.npy`` in float64.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from servicekit import analyse_uploads, cut_video, post_clip, save_constant_backbone
from sqlalchemy import select

import vidstruct.pipeline.analyze.models as analyze_models
from vidstruct.data.transforms import build_eval_transform
from vidstruct.io import VideoReader, write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import load_model_checkpoint, save_model_checkpoint, sha256_file
from vidstruct.models.localization.checkpoint import save_localizer
from vidstruct.recipes.analyze import analyze_settings, load_profile
from vidstruct.service.db.models import Analysis, Window
from vidstruct.service.errors import UnprocessableError
from vidstruct.service.jobs.analysis import ModelCache
from vidstruct.service.settings import ServiceSettings
from vidstruct.service.similar import backbones, clip
from vidstruct.service.similar.backbones import BackboneCache, profile_backbone

FPS = 10.0


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Overrides the service fixture: profile ``tiny`` with 1 s windows every 1 s (window starts 0, 1, 2 s)."""
    root = tmp_path_factory.mktemp("clip_models_profiles")
    backbone = save_constant_backbone(root / "constant.pt")
    (root / "tiny.yaml").write_text(
        "task: analyze\nname: tiny\n"
        f"recognizer: {{checkpoint: {backbone.name}, window_s: 1.0, stride_s: 1.0, top_k: 2, batch_size: 2}}\n"
        "shots: {detector: content, options: {frame_size: [32, 18]}}\n"
        "thumbnails: {width: 48}\nruntime: {device: cpu}\n"
    )
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clip_models_videos")
    found = {"A": cut_video(root / "a.mp4", 3.0, cut_s=1.5), "B": cut_video(root / "b.mp4", 3.0, cut_s=0.7)}
    with VideoReader(found["A"]) as reader:
        frames = reader.get_frames(list(range(10, 20))).numpy()  # uint8 [10, 64, 64, 3]: 1.0 s to 2.0 s of A
    found["clip"] = write_video(root / "clip.mp4", frames, FPS)  # re-encoded: not the same bytes as A
    return found


class Counts:
    """Calls of the model loaders while installed: ``builds`` (registered model names), ``checkpoints`` (files
    loaded by ``load_model_checkpoint``) and ``others`` (names of the other loaders called)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.builds: list[str] = []
        self.checkpoints: list[Path] = []
        self.others: list[str] = []
        build, load = MODELS.build, analyze_models.load_model_checkpoint

        def counted_build(name: str, *args: Any, **kwargs: Any) -> Any:
            self.builds.append(name)
            return build(name, *args, **kwargs)

        def counted_load(path: str | Path, *args: Any, **kwargs: Any) -> Any:
            self.checkpoints.append(Path(path).resolve())
            return load(path, *args, **kwargs)

        monkeypatch.setattr(MODELS, "build", counted_build)
        monkeypatch.setattr(analyze_models, "load_model_checkpoint", counted_load)
        for name in ("load_models", "_shot_detector", "_load_localizer", "load_actor_models"):
            monkeypatch.setattr(analyze_models, name, self._refuse(name, getattr(analyze_models, name)))
        monkeypatch.setattr(ModelCache, "models_for", self._refuse("ModelCache.models_for", ModelCache.models_for))

    def _refuse(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def called(*args: Any, **kwargs: Any) -> Any:
            self.others.append(name)
            return real(*args, **kwargs)

        return called


def _independent_embedding(checkpoint: Path, video: Path, indices: list[int]) -> np.ndarray:
    """float64 ``[D]``, L2-normalised: ``forward_features`` of the frames ``indices`` of ``video`` (decoded at the
    model's short side, as analysis decodes for it), through the data layer's eval transform."""
    model, _ = load_model_checkpoint(checkpoint)
    spec = model.input_spec
    with VideoReader(video, short_side=int(spec.short_side)) as reader:
        frames = reader.get_frames(indices)  # uint8 [T, H, W, 3]
    transform = build_eval_transform(short_side=spec.short_side, crop_size=spec.crop_size, mean=spec.mean, std=spec.std)
    with torch.no_grad():
        feature = model.eval().forward_features(transform(frames)[None]).double().numpy()[0]  # [C, T, H, W] in
    return feature / np.linalg.norm(feature)


def test_a_clip_loads_only_its_backbone_once_and_embeds_as_analysis_did(
    api: Any, files: dict[str, Path], profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = analyse_uploads(api, files, ("A", "B"))
    backbone_file = (profiles / "constant.pt").resolve()
    with api.session() as session:
        analysis = session.scalars(select(Analysis).where(Analysis.video_id == videos["A"])).one()
        windows = session.scalars(select(Window)).all()
        stored_a = np.load(api.settings.data_dir / analysis.folder / "embeddings.npy").astype(np.float64)
        rows = {
            w.id: np.load(api.settings.data_dir / a.folder / "embeddings.npy").astype(np.float64)[w.embedding_row]
            for a in session.scalars(select(Analysis)).all()
            for w in windows
            if w.analysis_id == a.id
        }
        at_1s = next(w for w in windows if w.analysis_id == analysis.id and w.start_s == 1.0)
    assert len(rows) == 6 and stored_a.shape[0] == 3  # windows 0-1, 1-2, 2-3 s of each video
    # the clip's one window shows A's frames 10, 12, 15, 17 (times 1.0 + m × 0.25 s): clip frames 0, 2, 5, 7
    expected = _independent_embedding(backbone_file, files["clip"], [0, 2, 5, 7])
    cosines = {k: float(v @ expected / np.linalg.norm(v)) for k, v in rows.items()}
    assert max(cosines, key=lambda k: cosines[k]) == at_1s.id and cosines[at_1s.id] >= 0.99

    monkeypatch.setattr(backbones, "CACHE", BackboneCache())
    counts = Counts(monkeypatch)
    first = post_clip(api, files["clip"], profile="tiny", max_results=2)
    assert first.status_code == 200, first.text
    second = post_clip(api, files["clip"], max_results=2)  # the default space: the same model, not loaded again
    assert second.status_code == 200, second.text
    assert counts.checkpoints == [backbone_file] and counts.builds == ["r2plus1d_tiny"] and counts.others == []
    for body in (first.json(), second.json()):
        assert body["query"]["clip"] == {"duration_s": 1.0, "windows": 1, "window_s": 1.0, "stride_s": 1.0}
        top = body["moments"][0]
        assert top["video_id"] == videos["A"] and top["windows"][0]["window_id"] == at_1s.id
        assert top["similarity"] >= 0.99
        assert top["similarity"] == pytest.approx(cosines[at_1s.id], abs=1e-4)
    assert first.json()["moments"] == second.json()["moments"]

    # the service's embedding of all of A equals what analysis stored for A (same frames, same preprocessing)
    with api.session() as session:
        chosen = clip.resolve_model(session, api.settings, profile="tiny")
    assert chosen.batch_size == 2 and counts.checkpoints == [backbone_file]
    features = clip.embed_clip(chosen, files["A"]).features.astype(np.float64)
    assert features.shape == stored_a.shape
    np.testing.assert_allclose(features, stored_a, rtol=0, atol=1e-5 * np.abs(stored_a).max())

    # a changed checkpoint is loaded again: another model, so no analysis of its space (422), then back
    original = backbone_file.read_bytes()
    _replace(backbone_file, _other_backbone(backbone_file.parent / "other.pt").read_bytes())
    changed = post_clip(api, files["clip"], profile="tiny")
    assert changed.status_code == 422 and "has embeddings of profile 'tiny''s model" in changed.json()["detail"]
    _replace(backbone_file, original)
    again = post_clip(api, files["clip"], profile="tiny", max_results=2)
    assert again.status_code == 200 and again.json()["moments"] == first.json()["moments"], again.text
    assert counts.checkpoints == [backbone_file] * 3 and counts.others == []


def _other_backbone(path: Path) -> Path:
    """``servicekit``'s constant backbone with every parameter shifted by 0.05: another checkpoint at ``path``."""
    model, _ = load_model_checkpoint(save_constant_backbone(path))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05)
    return save_model_checkpoint(path, model.eval(), model_name="r2plus1d_tiny", model_kwargs={"widths": [4, 4, 4, 8]})


_STAMPS = iter(range(1_000_000_000, 2_000_000_000, 1000))


def _replace(path: Path, data: bytes) -> None:
    """``path`` replaced by a new file holding ``data`` (a new inode, an mtime never used before)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    stamp = next(_STAMPS)
    os.utime(tmp, ns=(stamp * 1_000_000_000, stamp * 1_000_000_000))
    os.replace(tmp, path)


def test_backbone_cache_is_a_bounded_thread_safe_lru_invalidated_by_a_changed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [save_constant_backbone(tmp_path / f"{name}.pt") for name in ("a", "b", "c")]
    loaded: list[Path] = []
    real = backbones.load_recognizer

    def counted(path: Path, device: str) -> Any:
        loaded.append(Path(path))
        return real(path, device)

    monkeypatch.setattr(backbones, "load_recognizer", counted)
    cache = BackboneCache(capacity=2)
    a1 = cache.get(files[0], "cpu")
    assert cache.get(files[0], "cpu") is a1 and cache.get(tmp_path / "a.pt", "cpu") is a1
    b1 = cache.get(files[1], "cpu")
    assert cache.get(files[0], "cpu") is a1  # a used last: b is the least recently used
    cache.get(files[2], "cpu")  # a third model: b dropped
    assert [Path(k[0]).name for k in cache.keys()] == ["a.pt", "c.pt"] and loaded == files
    assert cache.get(files[1], "cpu") is not b1 and loaded[-1] == files[1]  # b loaded again, a dropped
    assert cache.loads == 4 and [Path(k[0]).name for k in cache.keys()] == ["c.pt", "b.pt"]

    # a changed file: loaded again, with its new hash and weights
    c1 = cache.get(files[2], "cpu")
    _replace(files[2], _other_backbone(tmp_path / "other.pt").read_bytes())
    c2 = cache.get(files[2], "cpu")
    assert c2 is not c1 and c2.sha256 != c1.sha256 and cache.loads == 5
    assert cache.get(files[2], "cpu") is c2 and cache.loads == 5  # unchanged since: kept
    w1, w2 = (next(x.recognizer.model.parameters()).detach() for x in (c1, c2))
    assert not torch.equal(w1, w2)

    # threads asking at once for a model not held (a, dropped above): loaded once, the same object for all
    assert [Path(k[0]).name for k in cache.keys()] == ["b.pt", "c.pt"]
    barrier, got = threading.Barrier(4), []

    def ask() -> None:
        barrier.wait(timeout=120)
        got.append(cache.get(files[0], "cpu"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(got) == 4 and all(g is got[0] for g in got) and cache.loads == 6


def test_profile_backbone_takes_the_profiles_window_settings(
    profiles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backbones, "_SOURCES", backbones._Sources())
    (tmp_path / "defaults.yaml").write_text(
        f"task: analyze\nrecognizer: {{checkpoint: {profiles / 'constant.pt'}}}\nshots: {{detector: none}}\n"
    )
    (tmp_path / "none.yaml").write_text("task: analyze\nshots: {detector: none}\n")
    settings = ServiceSettings(data_dir=tmp_path / "data", profile_dirs=(profiles, tmp_path))
    cache = BackboneCache()
    tiny, batch = profile_backbone(settings, "tiny", cache)
    assert (tiny.window_s, tiny.stride_s, batch, tiny.name) == (1.0, 1.0, 2, "r2plus1d_tiny")
    defaults, batch = profile_backbone(settings, "defaults", cache)
    # no window settings: one training clip (4 frames every 2 at 10 fps = 0.8 s) and half of it, batch 8
    assert (defaults.window_s, defaults.stride_s, batch) == (pytest.approx(0.8), pytest.approx(0.4), 8)
    assert defaults.recognizer is tiny.recognizer and cache.loads == 1  # one checkpoint, loaded once
    with pytest.raises(UnprocessableError, match="has no recognizer"):
        profile_backbone(settings, "none", cache)

    # the profile is read (and its checkpoints hashed) again only when its file changes
    read: list[str] = []
    real = backbones.analyze_settings
    monkeypatch.setattr(backbones, "analyze_settings", lambda *a, **k: read.append(k["name"]) or real(*a, **k))
    assert profile_backbone(settings, "defaults", cache)[0].window_s == pytest.approx(0.8) and read == []
    text = (tmp_path / "defaults.yaml").read_text().replace("constant.pt}", "constant.pt, window_s: 2.0}")
    _replace(tmp_path / "defaults.yaml", text.encode())
    again, _ = profile_backbone(settings, "defaults", cache)
    assert (again.window_s, again.stride_s) == (2.0, 1.0) and read == ["defaults"] and cache.loads == 1
    assert profile_backbone(settings, "defaults", cache)[0].window_s == 2.0 and read == ["defaults"]
    with pytest.raises(UnprocessableError, match="no analysis profile named 'nope'"):
        profile_backbone(settings, "nope", cache)


def test_a_localizer_only_profile_loads_the_localizers_backbone_alone(
    profiles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a recognizer the windows are the localizer's snippets on its recorded backbone, as analysis has
    them (compared with :func:`~vidstruct.pipeline.analyze.models.load_models`), and the BMN is never built."""
    backbone = (profiles / "constant.pt").resolve()
    bmn_kwargs = {
        "feat_dim": 8, "temporal_scale": 16, "max_duration": 8, "num_sample": 4, "num_sample_perbin": 1,
        "hidden_dim_1d": 8, "hidden_dim_2d": 8, "hidden_dim_3d": 16,
    }  # fmt: skip
    features = {
        "backbone_checkpoint": str(backbone), "backbone_sha256": sha256_file(backbone),
        "backbone_model": "r2plus1d_tiny", "window_s": 1.5, "stride_s": 0.75, "feature_dim": 8, "temporal_scale": 16,
        "mode": "rescale", "window_stride": None,
    }  # fmt: skip
    save_localizer(
        tmp_path / "bmn.pt", MODELS.build("bmn", **bmn_kwargs), model_name="bmn", model_kwargs=bmn_kwargs,
        classes=["walk", "run"], features=features, postprocess={"fusion": "none", "max_segments": 30},
    )  # fmt: skip
    (tmp_path / "loconly.yaml").write_text("task: analyze\nlocalizer: {checkpoint: bmn.pt}\nshots: {detector: none}\n")
    settings = ServiceSettings(data_dir=tmp_path / "data", profile_dirs=(tmp_path,))
    analysis = load_models_of(tmp_path / "loconly.yaml")
    assert analysis.recognizer is not None and analysis.localizer is not None

    counts = Counts(monkeypatch)
    got, batch = profile_backbone(settings, "loconly", BackboneCache())
    assert counts.builds == ["r2plus1d_tiny"] and counts.checkpoints == [backbone] and counts.others == []
    want = analysis.recognizer
    assert (got.checkpoint, got.sha256, got.name) == (want.checkpoint, want.sha256, want.name)
    assert (got.window_s, got.stride_s, batch) == (want.window_s, want.stride_s, 8) == (1.5, 0.75, 8)
    assert analyze_settings(*load_profile(tmp_path / "loconly.yaml")).recognition.checkpoint is None


def load_models_of(profile_file: Path) -> Any:
    """Every model of the profile, loaded as analysis loads them."""
    return analyze_models.load_models(analyze_settings(*load_profile(profile_file), report=False))
