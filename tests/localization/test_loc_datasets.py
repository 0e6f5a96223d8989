"""Localization datasets: rescaling to T positions, sliding windows, skipped videos, annotation errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lockit import anet_json, write_store

from vidstruct.data.localization import (
    RescaledFeatureDataset,
    WindowedFeatureDataset,
    collate_localization,
    read_localization_annotations,
    window_starts,
)
from vidstruct.errors import AnnotationError


def ramp(n: int, dim: int = 2) -> np.ndarray:
    """Snippet ``i`` has feature ``[i, 10·i, ...]``."""
    return (np.arange(n, dtype=np.float32)[:, None] * (10.0 ** np.arange(dim))).astype(np.float32)


def test_rescaled_item_interpolates_features_and_normalizes_segments(tmp_path: Path) -> None:
    # 8 snippets every 0.5 s (window 0.5 s): centres 0.25, 0.75, ..., 3.75 in a 4 s video.
    probs = np.tile([[0.9, 0.1]], (8, 1)).astype(np.float32)
    store = write_store(tmp_path / "f", {"a": (ramp(8), probs, 4.0)}, window_s=0.5, stride_s=0.5, classes=["x", "y"])
    segs = [{"segment": [1.0, 3.0], "label": "jump"}, {"segment": [3.5, 4.2], "label": "spin"}]
    ann = anet_json(
        tmp_path / "gt.json", {"a": {"duration": 4.0, "subset": "training", "annotations": segs}}, ["jump", "spin"]
    )
    a = read_localization_annotations("activitynet", str(ann), subset="training")
    assert a.classes == ["jump", "spin"]
    ds = RescaledFeatureDataset(store, a.videos, a.classes, temporal_scale=4)
    item = ds[0]
    # T = 4 positions centred on 0.5, 1.5, 2.5, 3.5 s: halfway between snippets (0, 1), (2, 3), (4, 5), (6, 7)
    assert item["features"].shape == (2, 4)
    assert torch.allclose(item["features"][0], torch.tensor([0.5, 2.5, 4.5, 6.5]))
    assert torch.allclose(item["features"][1], torch.tensor([5.0, 25.0, 45.0, 65.0]))
    assert item["probs"].shape == (2, 4)  # [K, T]
    assert torch.allclose(item["probs"][0], torch.full((4,), 0.9))
    # segments / 4 s, the one ending past the duration clipped to 1
    assert torch.allclose(item["segments"], torch.tensor([[0.25, 0.75], [0.875, 1.0]]))
    assert item["labels"].tolist() == [0, 1]
    assert item["video_labels"].tolist() == [1.0, 1.0]
    assert (item["duration_s"], item["offset_s"], item["video_id"]) == (4.0, 0.0, "a")


def test_window_starts_hand_computed() -> None:
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]  # the last window ends exactly at snippet 10
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]  # one more window ending at the last snippet
    assert window_starts(3, 4, 2) == [0]  # shorter than a window: one padded window


def test_windows_clip_segments_drop_empty_in_training_and_keep_all_in_eval(tmp_path: Path) -> None:
    # 10 snippets every 0.5 s of 1.0 s windows (centres 0.5 + 0.5·i), 5.5 s video
    store = write_store(tmp_path / "f", {"v": (ramp(10), None, 5.5)}, window_s=1.0, stride_s=0.5)
    ann = anet_json(tmp_path / "gt.json", {"v": {"duration": 5.5, "subset": "s", "annotations": [
        {"segment": [1.0, 2.0], "label": "jump"}]}})  # fmt: skip
    a = read_localization_annotations("activitynet", str(ann))
    ev = WindowedFeatureDataset(store, a.videos, a.classes, window_size=4, window_stride=2, train=False)
    assert ev.windows == [(0, 0), (0, 2), (0, 4), (0, 6)]
    # window at snippet s spans [s·0.5 + 0.5 - 0.25, + 4·0.5]: offsets 0.25, 1.25, 2.25, 3.25; span 2 s
    offsets = [ev[i]["offset_s"] for i in range(4)]
    assert offsets == pytest.approx([0.25, 1.25, 2.25, 3.25])
    assert ev[0]["duration_s"] == pytest.approx(2.0)
    assert torch.allclose(ev[0]["segments"], torch.tensor([[0.375, 0.875]]))  # [1, 2] in [0.25, 2.25]
    assert torch.allclose(ev[1]["segments"], torch.tensor([[0.0, 0.375]]))  # clipped to [1.25, 2.0]
    assert ev[2]["segments"].shape == (0, 2) and ev[3]["segments"].shape == (0, 2)
    assert torch.equal(ev[1]["features"][0], torch.tensor([2.0, 3.0, 4.0, 5.0]))
    assert ev[1]["video_duration_s"] == 5.5
    tr = WindowedFeatureDataset(store, a.videos, a.classes, window_size=4, window_stride=2, train=True)
    assert tr.windows == [(0, 0), (0, 2)] and tr.dropped_empty == 2
    # min_segment_overlap: window 1 holds 0.75 of the 1 s segment, window 0 all of it
    strict = WindowedFeatureDataset(
        store, a.videos, a.classes, window_size=4, window_stride=2, train=True, min_segment_overlap=0.8
    )
    assert strict.windows == [(0, 0)]


def test_short_video_is_one_padded_window(tmp_path: Path) -> None:
    store = write_store(tmp_path / "f", {"s": (ramp(3), None, 1.5)}, window_s=0.5, stride_s=0.5)
    ann = anet_json(tmp_path / "gt.json", {"s": {"duration": 1.5, "subset": "s", "annotations": [
        {"segment": [0.0, 1.0], "label": "a"}]}})  # fmt: skip
    a = read_localization_annotations("activitynet", str(ann))
    item = WindowedFeatureDataset(store, a.videos, a.classes, window_size=5, train=True)[0]
    assert item["mask"].tolist() == [True, True, True, False, False]
    assert torch.equal(item["features"][0], torch.tensor([0.0, 1.0, 2.0, 0.0, 0.0]))
    assert torch.allclose(item["segments"], torch.tensor([[0.0, 0.4]]))  # [0, 1] s of a 2.5 s span


def test_missing_and_failed_videos_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    videos = {v: (ramp(4) + i, None, 2.0) for i, v in enumerate(["v0", "v1", "v4"])}
    store = write_store(tmp_path / "f", videos, window_s=0.5, stride_s=0.5, failed={"v2": "cannot decode"})
    db = {v: {"duration": 2.0, "subset": "t", "annotations": [{"segment": [0.5, 1.5], "label": "a"}]}
          for v in ["v0", "v1", "v2", "v3", "v4"]}  # fmt: skip
    a = read_localization_annotations("activitynet", str(anet_json(tmp_path / "gt.json", db)))
    ds = RescaledFeatureDataset(tmp_path / "f", a.videos, a.classes, temporal_scale=4)
    assert len(ds) == 3 and ds.skipped == {"missing": ["v3"], "failed": ["v2"]}
    assert [ds[i]["video_id"] for i in range(3)] == ["v0", "v1", "v4"]
    assert ds[2]["features"][0, 0].item() == pytest.approx(2.0)  # v4's own features (offset by 2)
    assert "skipping 1 of 5 annotated videos whose features are missing" in caplog.text
    assert "failed" in caplog.text
    win = WindowedFeatureDataset(store, a.videos, a.classes, window_size=2)
    assert win.skipped == {"missing": ["v3"], "failed": ["v2"]}


@pytest.mark.parametrize(
    ("annotation", "field"),
    [({"segment": [3.0, 1.0], "label": "a"}, "segment"), ({"segment": [0.0, 1.0], "label": "zzz"}, "label")],
)
def test_bad_annotation_names_video_and_field(tmp_path: Path, annotation: dict, field: str) -> None:
    db = {"ok": {"duration": 5.0, "subset": "t", "annotations": [{"segment": [0, 1], "label": "a"}]},
          "bad_vid": {"duration": 5.0, "subset": "t", "annotations": [annotation]}}  # fmt: skip
    path = anet_json(tmp_path / "gt.json", db, ["a"])
    with pytest.raises(AnnotationError, match=rf"bad_vid.*'{field}'"):
        read_localization_annotations("activitynet", str(path))


def test_unknown_format_is_an_annotation_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="unknown localization format 'anet'"):
        read_localization_annotations("anet", str(tmp_path / "x.json"))


def test_thumos_and_epic_take_durations_from_the_store(tmp_path: Path) -> None:
    th = tmp_path / "thumos"
    th.mkdir()
    (th / "Jump_val.txt").write_text("video_b 1.0 2.0\nvideo_a 0.5 1.5\n")
    (th / "Spin_val.txt").write_text("video_a 3.0 4.0\n")
    a = read_localization_annotations("thumos14", str(th), subset="val", durations={"video_a": 9.0, "video_b": 7.0})
    assert a.classes == ["Jump", "Spin"]
    assert [(v.video_id, v.duration_s, [s.label_index for s in v.segments]) for v in a.videos] == [
        ("video_a", 9.0, [0, 1]),
        ("video_b", 7.0, [0]),
    ]
    csv = tmp_path / "epic.csv"
    csv.write_text(
        "narration_id,participant_id,video_id,start_timestamp,stop_timestamp,verb_class,noun_class\n"
        "P01_01_0,P01,P01_01,00:00:01.00,00:00:02.50,2,5\n"
        "P01_01_1,P01,P01_01,00:00:04.00,00:00:05.00,0,1\n"
        "P02_03_0,P02,P02_03,00:01:00.00,00:01:01.00,2,7\n"
    )
    e = read_localization_annotations("epic", str(csv), durations={"P01_01": 60.0}, num_verbs=3, num_nouns=10)
    assert e.classes == ["verb_0", "verb_1", "verb_2"]
    got = {v.video_id: (v.duration_s, [(s.start_s, s.end_s, s.label_index) for s in v.segments]) for v in e.videos}
    assert got == {"P01_01": (60.0, [(1.0, 2.5, 2), (4.0, 5.0, 0)]), "P02_03": (-1.0, [(60.0, 61.0, 2)])}
    nouns = read_localization_annotations("epic", str(csv), epic_label="noun", num_verbs=3, num_nouns=10)
    assert [s.label_index for v in nouns.videos for s in v.segments] == [5, 1, 7]


def test_collate_stacks_tensors_and_keeps_lists(tmp_path: Path) -> None:
    store = write_store(
        tmp_path / "f", {"a": (ramp(4), None, 2.0), "b": (ramp(4), None, 2.0)}, window_s=0.5, stride_s=0.5
    )
    db = {"a": {"duration": 2.0, "subset": "t", "annotations": [{"segment": [0, 1], "label": "x"}]},
          "b": {"duration": 2.0, "subset": "t", "annotations": []}}  # fmt: skip
    a = read_localization_annotations("activitynet", str(anet_json(tmp_path / "g.json", db)))
    ds = RescaledFeatureDataset(store, a.videos, a.classes, temporal_scale=4)
    batch = collate_localization([ds[0], ds[1]])
    assert batch["features"].shape == (2, 2, 4) and "probs" not in batch
    assert [s.shape[0] for s in batch["segments"]] == [1, 0]
    assert batch["video_id"] == ["a", "b"] and batch["duration_s"].tolist() == [2.0, 2.0]
    assert json.dumps(batch["index"].tolist()) == "[0, 1]"
