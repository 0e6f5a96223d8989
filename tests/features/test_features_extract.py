"""Snippet feature extraction: equality with the model on directly decoded clips, resume, bad videos, parallel."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from featkit import moving_video

from vidstruct.data.features import FeatureStore, FeatureStoreError, num_snippets_for
from vidstruct.data.transforms import build_eval_transform
from vidstruct.io import VideoReader
from vidstruct.models.checkpoint import load_model_checkpoint
from vidstruct.pipeline.features import extract_features, snippet_features


def test_snippet_features_equal_model_on_directly_decoded_clips(checkpoint: Path, clips: dict[str, Path]) -> None:
    """Snippet i = forward_features of the 4 frames shown at i*stride + m*window/4, resized + centre-cropped."""
    model, _ = load_model_checkpoint(checkpoint)
    s = model.input_spec
    window_s, stride_s = 1.0, 0.4
    out = snippet_features(model, clips["a"], window_s=window_s, stride_s=stride_s, batch_size=3)
    n = num_snippets_for(3.0, window_s, stride_s)
    assert n == 8 and out.features.shape == (n, model.feature_dim) and out.probs.shape == (n, 3)
    assert out.duration_s == pytest.approx(3.0) and out.video_fps == pytest.approx(10.0)
    np.testing.assert_allclose(out.centers_s, np.minimum(np.arange(n) * 0.4 + 0.5, 3.0))
    tf = build_eval_transform(short_side=s.short_side, crop_size=s.crop_size, mean=s.mean, std=s.std)
    with VideoReader(clips["a"], short_side=s.short_side) as reader:
        for i in (0, 3, 5):  # windows fully inside the video
            times = i * stride_s + np.arange(s.num_frames) * window_s / s.num_frames
            clip = tf(reader.get_frames_at(times))[None]
            with torch.no_grad():
                feat = model.forward_features(clip)[0].numpy()
                prob = torch.softmax(model(clip), -1)[0].numpy()
            np.testing.assert_allclose(out.features[i], feat, atol=1e-5, rtol=0)
            np.testing.assert_allclose(out.probs[i], prob, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out.probs.sum(1), 1.0, atol=1e-5)
    assert np.abs(np.diff(out.features, axis=0)).max() > 1e-4, "features change along the moving video"


def test_extract_writes_store_and_resumes(tmp_path: Path, checkpoint: Path, clips: dict[str, Path]) -> None:
    out = tmp_path / "feats"
    report = extract_features(checkpoint, list(clips.values()), out, window_s=1.0, stride_s=0.5, device="cpu")
    assert sorted(report.done) == ["a", "b", "c"] and report.skipped == [] and report.ok
    store = FeatureStore(out)
    assert store.video_ids == ["a", "b", "c"] and store.classes == ["left", "right", "up"]
    assert store.meta["backbone"]["model"] == "r2plus1d_tiny"
    assert store.meta["backbone"]["checkpoint"] == str(checkpoint.resolve())
    assert [store.meta["videos"][v]["num_snippets"] for v in "abc"] == [6, 4, 5]
    assert store.meta["videos"]["b"]["video_fps"] == pytest.approx(10.0)
    before = {v: store.load(v).features for v in "abc"}
    mtimes = {v: os.stat(out / f"{v}.npy").st_mtime_ns for v in "ac"}

    # drop b's features and its manifest entry: only b is recomputed
    (out / "b.npy").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["videos"]["b"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = extract_features(checkpoint, list(clips.values()), out, window_s=1.0, stride_s=0.5, device="cpu")
    assert report.done == ["b"] and sorted(report.skipped) == ["a", "c"] and report.failed == {}
    assert {v: os.stat(out / f"{v}.npy").st_mtime_ns for v in "ac"} == mtimes
    store = FeatureStore(out)
    assert store.video_ids == ["a", "b", "c"]
    np.testing.assert_array_equal(store.load("b").features, before["b"])

    # a lost feature file whose entry is still listed is recomputed too
    (out / "c.probs.npy").unlink()
    report = extract_features(checkpoint, list(clips.values()), out, window_s=1.0, stride_s=0.5, device="cpu")
    assert report.done == ["c"] and sorted(report.skipped) == ["a", "b"]

    # another configuration in the same directory is refused
    with pytest.raises(FeatureStoreError, match="holds features of another configuration") as info:
        extract_features(checkpoint, list(clips.values()), out, window_s=1.0, stride_s=0.25, device="cpu")
    assert "stride_s 0.25" in str(info.value) and "use another --out directory" in str(info.value)


def test_bad_videos_are_reported_and_the_rest_done(tmp_path: Path, checkpoint: Path, clips: dict[str, Path]) -> None:
    good = moving_video(tmp_path / "good.mp4", 2.0, seed=7)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "text.mp4"
    text.write_text("this is not a video\n" * 50)
    missing = tmp_path / "missing.mp4"
    videos = [truncated, text, clips["b"], missing, good]
    out = tmp_path / "feats"
    report = extract_features(checkpoint, videos, out, window_s=1.0, stride_s=0.5, device="cpu")
    assert sorted(report.done) == ["b", "good"]
    assert sorted(report.failed) == ["missing", "text", "truncated"]
    for vid, path in (("missing", missing), ("text", text), ("truncated", truncated)):
        assert report.failed[vid].startswith(f"{path}: ")
    assert "no such file" in report.failed["missing"]
    store = FeatureStore(out)
    assert store.video_ids == ["b", "good"] and store.failed == report.failed
    assert not (out / "text.npy").exists()

    # the failures are retried on the next run (and still fail); done videos are skipped
    report = extract_features(checkpoint, videos, out, window_s=1.0, stride_s=0.5, device="cpu")
    assert sorted(report.skipped) == ["b", "good"] and sorted(report.failed) == ["missing", "text", "truncated"]
    # once the missing file appears it is done and leaves "failed"
    moving_video(missing, 2.0, seed=8)
    report = extract_features(checkpoint, videos, out, window_s=1.0, stride_s=0.5, device="cpu")
    assert report.done == ["missing"] and "missing" not in FeatureStore(out).failed


def _same_store(a: Path, b: Path) -> None:
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    assert ma["videos"] == mb["videos"] and ma["config_hash"] == mb["config_hash"] and ma["failed"] == mb["failed"]
    sa, sb = FeatureStore(a), FeatureStore(b)
    for vid in sa.video_ids:
        fa, fb = sa.load(vid), sb.load(vid)
        np.testing.assert_allclose(fa.features, fb.features, atol=1e-5, rtol=0)
        np.testing.assert_allclose(fa.probs, fb.probs, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_workers_2_equals_workers_1(tmp_path: Path, checkpoint: Path, clips: dict[str, Path]) -> None:
    videos = [*clips.values(), tmp_path / "missing.mp4"]
    one = extract_features(checkpoint, videos, tmp_path / "w1", window_s=1.0, stride_s=0.5, device="cpu")
    progressed: list[int] = []

    def progress(items, total):
        progressed.append(total)
        yield from items

    two = extract_features(
        checkpoint, videos, tmp_path / "w2", window_s=1.0, stride_s=0.5, workers=2, device="cpu", progress=progress
    )
    assert sorted(one.done) == sorted(two.done) == ["a", "b", "c"] and progressed == [4]
    assert one.failed == two.failed and list(two.failed) == ["missing"]
    _same_store(tmp_path / "w1", tmp_path / "w2")


@pytest.mark.slow
def test_ray_local_equals_workers_1(tmp_path: Path, checkpoint: Path, clips: dict[str, Path]) -> None:
    import ray

    videos = [clips["b"], tmp_path / "missing.mp4"]
    extract_features(checkpoint, videos, tmp_path / "w1", window_s=1.0, stride_s=0.5, device="cpu")
    report = extract_features(
        checkpoint, videos, tmp_path / "ray", window_s=1.0, stride_s=0.5, workers=2, ray=True, device="cpu"
    )
    assert report.done == ["b"] and list(report.failed) == ["missing"]
    assert not ray.is_initialized(), "the local Ray started for the run is shut down"
    _same_store(tmp_path / "w1", tmp_path / "ray")


def test_decoding_is_streamed_with_memory_bounded_by_the_window(
    tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 6 s video gives 12 snippets x 4 frames, but at most 2 windows (window / stride) are held at once."""
    import vidstruct.pipeline.features

    streams = []
    real = vidstruct.pipeline.features.iter_windows

    def spy(*args, **kwargs):
        streams.append(real(*args, **kwargs))
        return streams[-1]

    monkeypatch.setattr(vidstruct.pipeline.features, "iter_windows", spy)
    model, _ = load_model_checkpoint(checkpoint)
    video = moving_video(tmp_path / "long.mp4", 6.0, seed=5)
    out = snippet_features(model, video, window_s=1.0, stride_s=0.5, batch_size=2)
    assert out.features.shape[0] == 12 and len(streams) == 1
    assert streams[0].peak_frames_held <= 2 * model.input_spec.num_frames
