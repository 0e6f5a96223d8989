"""The vidstruct.features/1 store: round trip, manifest validation, snippet geometry, BMN-style rescaling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidstruct.data.features import (
    FORMAT,
    FeatureStore,
    FeatureStoreError,
    compute_config_hash,
    new_manifest,
    num_snippets_for,
    rescale_features,
    save_array_atomic,
    snippet_bounds_s,
    snippet_centers_s,
    write_manifest,
)
from vidstruct.errors import VidstructError


def _store(tmp_path: Path, n: int = 5, c: int = 3, k: int | None = 2) -> tuple[Path, np.ndarray, np.ndarray | None]:
    """A store with one video ``v1`` of ``n`` snippets (window 1 s, stride 0.5 s, duration 2.5 s)."""
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(n, c)).astype(np.float32)
    probs = rng.dirichlet(np.ones(k), size=n).astype(np.float32) if k else None
    manifest = new_manifest(
        checkpoint=tmp_path / "m.pt",
        sha256="ab" * 32,
        model="r2plus1d_tiny",
        config_hash="0123456789abcdef",
        window_s=1.0,
        stride_s=0.5,
        feature_dim=c,
        classes=[f"k{i}" for i in range(k)] if k else None,
    )
    save_array_atomic(tmp_path / "v1.npy", feats)
    if probs is not None:
        save_array_atomic(tmp_path / "v1.probs.npy", probs)
    manifest["videos"]["v1"] = {
        "features": "v1.npy",
        "probs": "v1.probs.npy" if probs is not None else None,
        "num_snippets": n,
        "duration_s": 2.5,
        "video_fps": 25.0,
    }
    manifest["failed"]["bad"] = "bad.mp4: no such file"
    write_manifest(tmp_path, manifest)
    return tmp_path, feats, probs


def _edit(path: Path, change) -> None:
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))


def test_round_trip(tmp_path: Path) -> None:
    path, feats, probs = _store(tmp_path)
    store = FeatureStore(path)
    assert store.video_ids == ["v1"] and "v1" in store and len(store) == 1
    assert store.classes == ["k0", "k1"] and store.failed == {"bad": "bad.mp4: no such file"}
    assert store.meta["format"] == FORMAT and store.meta["backbone"]["checkpoint"] == str((tmp_path / "m.pt").resolve())
    vf = store.load("v1")
    np.testing.assert_array_equal(vf.features, feats)
    np.testing.assert_array_equal(vf.probs, probs)
    assert vf.features.dtype == np.float32 and vf.num_snippets == 5
    # centres i * 0.5 + 0.5, the last one clipped to the 2.5 s duration
    np.testing.assert_allclose(vf.centers_s, [0.5, 1.0, 1.5, 2.0, 2.5])
    assert (vf.duration_s, vf.stride_s, vf.window_s) == (2.5, 0.5, 1.0)
    assert store.load_rescaled("v1", 7).shape == (7, 3)
    assert not list(tmp_path.glob(".*tmp")), "atomic writes leave no temp files"


def test_store_without_probs(tmp_path: Path) -> None:
    path, feats, _ = _store(tmp_path, k=None)
    vf = FeatureStore(path).load("v1")
    assert vf.probs is None and FeatureStore(path).classes is None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.update(format="vidstruct.features/0"), "field 'format' must be 'vidstruct.features/1'"),
        (lambda m: m.pop("feature_dim"), "field 'feature_dim' must be a positive int"),
        (lambda m: m.update(stride_s=-1), "field 'stride_s' must be a positive number"),
        (lambda m: m["backbone"].pop("sha256"), "field 'backbone.sha256' must be a string"),
        (lambda m: m.update(classes="abc"), "field 'classes' must be null or a list of strings"),
        (lambda m: m["videos"]["v1"].update(num_snippets=0), r"field 'videos.v1.num_snippets' must be int > 0"),
        (lambda m: m["videos"]["v1"].pop("duration_s"), r"field 'videos.v1.duration_s' must be a positive number"),
        (lambda m: m.update(videos=[]), "field 'videos' must be an object"),
    ],
)
def test_manifest_validation_names_file_and_field(tmp_path: Path, change, match: str) -> None:
    path, _, _ = _store(tmp_path)
    _edit(path, change)
    with pytest.raises(FeatureStoreError, match=match) as info:
        FeatureStore(path)
    assert str(path / "manifest.json") in str(info.value)
    assert isinstance(info.value, VidstructError)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError, match="feature directory does not exist"):
        FeatureStore(tmp_path / "nope")
    with pytest.raises(FeatureStoreError, match="no manifest.json"):
        FeatureStore(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(FeatureStoreError, match="not valid JSON"):
        FeatureStore(tmp_path)


def test_load_checks_feature_files(tmp_path: Path) -> None:
    path, _, _ = _store(tmp_path)
    store = FeatureStore(path)
    with pytest.raises(FeatureStoreError, match="no features for video 'zz'"):
        store.load("zz")
    with pytest.raises(FeatureStoreError, match=r"extraction failed: bad.mp4: no such file"):
        store.load("bad")
    np.save(path / "v1.npy", np.zeros((4, 3), np.float32))  # manifest says 5 snippets
    with pytest.raises(FeatureStoreError, match=r"v1.npy: expected shape \(5, 3\)"):
        store.load("v1")
    np.save(path / "v1.npy", np.zeros((5, 3), np.float32))
    np.save(path / "v1.probs.npy", np.zeros((5, 4), np.float32))  # 2 classes
    with pytest.raises(FeatureStoreError, match=r"v1.probs.npy: expected shape \(5, 2\)"):
        store.load("v1")
    (path / "v1.probs.npy").unlink()
    with pytest.raises(FeatureStoreError, match=r"v1.probs.npy: missing \(listed as videos.v1.probs"):
        store.load("v1")
    (path / "v1.npy").write_text("garbage")
    with pytest.raises(FeatureStoreError, match="v1.npy: not a readable .npy file"):
        store.load("v1")


def test_snippet_geometry() -> None:
    # starts 0, 0.5, ... strictly before the end (the rule of io.iter_windows)
    assert num_snippets_for(8.0, 1.0, 0.5) == 16
    assert num_snippets_for(2.2, 1.0, 0.5) == 5
    assert num_snippets_for(0.3, 1.0, 0.5) == 1
    assert num_snippets_for(3.0, 2.0, 1.0) == 3
    assert snippet_bounds_s(3, 1.0, 0.5, 2.2) == (1.5, 2.2)
    assert snippet_centers_s(0, 1.0, 0.5, 2.2) == 0.5
    np.testing.assert_allclose(snippet_centers_s(np.arange(5), 1.0, 0.5, 2.2), [0.5, 1.0, 1.5, 2.0, 2.2])


def test_rescale_hand_computed() -> None:
    feats = np.array([[0.0, 10.0], [2.0, 20.0], [4.0, 40.0]], np.float32)
    centers = np.array([0.5, 1.5, 2.5])
    # T = 6 over 3 s: positions 0.25, 0.75, ..., 2.75; outside [0.5, 2.5] the end snippets are held
    out = rescale_features(feats, centers, 3.0, 6)
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 1.5, 2.5, 3.5, 4.0])
    np.testing.assert_allclose(out[:, 1], [10.0, 12.5, 17.5, 25.0, 35.0, 40.0])
    assert out.dtype == np.float32 and out.shape == (6, 2)
    # T = N with centres on the grid reproduces the input
    np.testing.assert_allclose(rescale_features(feats, centers, 3.0, 3), feats)
    # T = 2 over 3 s: positions 0.75 (0.25 of the way 0 -> 2) and 2.25 (0.75 of the way 2 -> 4)
    np.testing.assert_allclose(rescale_features(feats, centers, 3.0, 2)[:, 0], [0.5, 3.5])
    # uneven centres (last one clipped): positions 0.25, 0.75 over [0.5, 1.0]: 0 and halfway
    two = np.array([[0.0], [6.0]], np.float32)
    np.testing.assert_allclose(rescale_features(two, np.array([0.5, 1.0]), 1.0, 2)[:, 0], [0.0, 3.0])


def test_rescale_single_snippet_and_errors() -> None:
    one = np.array([[1.0, -2.0]], np.float32)
    np.testing.assert_array_equal(rescale_features(one, np.array([0.4]), 0.8, 4), np.repeat(one, 4, axis=0))
    with pytest.raises(FeatureStoreError, match=r"feats must be \[N, C\]"):
        rescale_features(np.zeros(3), np.zeros(3), 1.0, 4)
    with pytest.raises(FeatureStoreError, match="centers_s must have shape"):
        rescale_features(np.zeros((3, 1)), np.zeros(2), 1.0, 4)
    with pytest.raises(FeatureStoreError, match="T must be >= 1"):
        rescale_features(one, np.array([0.4]), 0.8, 0)
    with pytest.raises(FeatureStoreError, match="no snippets"):
        rescale_features(np.zeros((0, 2)), np.zeros(0), 1.0, 4)


def test_config_hash_depends_on_every_input() -> None:
    spec = {"num_frames": 8, "crop_size": 112}
    base = compute_config_hash("s" * 64, 1.0, 0.5, spec)
    assert base == compute_config_hash("s" * 64, 1.0, 0.5, dict(reversed(list(spec.items()))))
    others = {
        compute_config_hash("t" * 64, 1.0, 0.5, spec),
        compute_config_hash("s" * 64, 2.0, 0.5, spec),
        compute_config_hash("s" * 64, 1.0, 0.25, spec),
        compute_config_hash("s" * 64, 1.0, 0.5, {**spec, "crop_size": 224}),
    }
    assert base not in others and len(others) == 4
