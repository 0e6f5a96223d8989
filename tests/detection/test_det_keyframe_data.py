"""Keyframe records and the keyframe clip dataset: merging, centring, flips, jitter, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vidstruct.data.detection import (
    KeyframeClipDataset,
    KeyframeRecord,
    collate_keyframes,
    keyframe_clip_times,
    keyframe_records,
    resolve_videos,
)
from vidstruct.data.detection.dataset import flip_boxes, jitter_boxes
from vidstruct.data.records import BoxAnnotation
from vidstruct.errors import InputError
from vidstruct.io import write_video
from vidstruct.io.errors import FrameOutOfRangeError

A, B = (0.1, 0.2, 0.4, 0.6), (0.5, 0.5, 0.9, 0.9)


def test_rows_of_one_person_at_a_keyframe_merge_into_one_multi_label_box() -> None:
    rows = [
        BoxAnnotation("v", 1.0, A, 3, 0), BoxAnnotation("v", 1.0, B, 2, 1), BoxAnnotation("v", 1.0, A, 5, 0),
        BoxAnnotation("v", 2.0, A, 3, 0), BoxAnnotation("w", 1.0, B, 1, -1), BoxAnnotation("w", 1.0, B, 4, -1),
    ]  # fmt: skip
    records = keyframe_records(rows, {"v": "v.mp4", "w": "w.mp4"})
    assert [(r.video_id, r.time_s) for r in records] == [("v", 1.0), ("v", 2.0), ("w", 1.0)]
    first = records[0]
    assert first.boxes == (A, B) and first.actions == ((3, 5), (2,)) and first.person_ids == (0, 1)
    assert records[2].boxes == (B,) and records[2].actions == ((1, 4),)  # no person id: merged by box
    ds = KeyframeClipDataset(records, [1, 2, 3, 4, 5], num_frames=2, frame_interval=1, target_fps=None, size=16)
    assert ds.targets(first).tolist() == [[0, 0, 1, 0, 1], [0, 1, 0, 0, 0]]


def test_a_missing_video_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    assert resolve_videos(["a"], tmp_path) == {"a": str(tmp_path / "a.mp4")}
    with pytest.raises(InputError, match=r"no video file for 'b'.*\.mp4"):
        resolve_videos(["a", "b"], tmp_path)


def test_flip_mirrors_boxes_and_jitter_stays_inside_the_frame() -> None:
    flipped = flip_boxes(torch.tensor([list(A)]))
    torch.testing.assert_close(flipped, torch.tensor([[0.6, 0.2, 0.9, 0.6]]))  # [1 - x2, y1, 1 - x1, y2]
    boxes = torch.tensor([[0.0, 0.0, 0.2, 0.3], [0.7, 0.6, 1.0, 1.0]])
    out = jitter_boxes(boxes, 0.2, np.random.default_rng(0))
    assert (out >= 0).all() and (out <= 1).all() and (out[:, 2:] > out[:, :2]).all()
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    assert ((out - boxes).abs() <= 0.2 * wh + 1e-6).all() and not torch.equal(out, boxes)


@pytest.fixture(scope="module")
def ramp_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 frames at 25 fps; frame i is grey level 4 * i on the left half and black on the right half."""
    path = tmp_path_factory.mktemp("ramp") / "ramp.mp4"
    frames = np.zeros((50, 32, 32, 3), np.uint8)
    for i in range(50):
        frames[i, :, :16] = 4 * i
    write_video(path, frames, 25.0, crf=0)
    return path


def _record(path: Path, t: float, boxes: tuple = (A,), actions: tuple = ((1,),)) -> KeyframeRecord:
    return KeyframeRecord("ramp", str(path), t, boxes, actions, (0,) * len(boxes), (1.0,) * len(boxes))


def test_the_clip_is_centred_on_the_keyframe_and_clamped_at_the_start(ramp_video: Path) -> None:
    # 4 frames, 2 apart at 25 fps, centred on 1.0 s: times 1.0 + (j - 2) * 0.08 = 0.84, 0.92, 1.00, 1.08 s
    # -> frames 21, 23, 25, 27 -> grey 84, 92, 100, 108 on the left half
    np.testing.assert_allclose(keyframe_clip_times(1.0, 4, 2, 25.0), [0.84, 0.92, 1.0, 1.08])
    ds = KeyframeClipDataset(
        [_record(ramp_video, 1.0), _record(ramp_video, 0.04)], [1], num_frames=4, frame_interval=2, target_fps=25.0,
        size=16, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    )  # fmt: skip
    clip = ds[0]["clip"]
    assert clip.shape == (3, 4, 16, 16)
    left = clip[:, :, :, :6].mean(dim=(0, 2, 3)) * 255
    np.testing.assert_allclose(left.numpy(), [84, 92, 100, 108], atol=2.0)
    # at 0.04 s: times -0.12, -0.04, 0.04, 0.12 -> clamped to frame 0, 0, then frames 1, 3 -> grey 0, 0, 4, 12
    early = ds[1]["clip"][:, :, :, :6].mean(dim=(0, 2, 3)) * 255
    np.testing.assert_allclose(early.numpy(), [0, 0, 4, 12], atol=2.0)


def test_a_training_flip_mirrors_clip_boxes_and_paired_labels(ramp_video: Path) -> None:
    common = dict(num_frames=2, frame_interval=1, target_fps=None, size=16, mean=(0, 0, 0), std=(1, 1, 1))
    plain = KeyframeClipDataset([_record(ramp_video, 1.0, actions=((1, 3),))], [1, 2, 3], **common)[0]
    objects = {("ramp", 1.0): [[0.0, 0.5, 0.25, 0.75]]}  # an object box at the keyframe (object tokens)
    ds = KeyframeClipDataset(
        [_record(ramp_video, 1.0, actions=((1, 3),))], [1, 2, 3], train=True, hflip=True, flip_pairs=[(0, 1)],
        objects=objects, **common,
    )  # fmt: skip
    seen = set()
    for seed in range(20):
        np.random.seed(seed)
        s = ds[0]
        flipped = not torch.equal(s["clip"], plain["clip"])
        seen.add(flipped)
        if flipped:
            torch.testing.assert_close(s["clip"], plain["clip"].flip(-1))
            torch.testing.assert_close(s["boxes"], torch.tensor([[0.6, 0.2, 0.9, 0.6]]))
            assert s["targets"].tolist() == [[0.0, 1.0, 1.0]]  # class 0 <-> 1 swapped, class 2 kept
            torch.testing.assert_close(s["objects"], torch.tensor([[0.75, 0.5, 1.0, 0.75]]))
        else:
            torch.testing.assert_close(s["boxes"], plain["boxes"])
            assert s["targets"].tolist() == [[1.0, 0.0, 1.0]]
            torch.testing.assert_close(s["objects"], torch.tensor([[0.0, 0.5, 0.25, 0.75]]))
    assert seen == {True, False}


def test_a_keyframe_past_the_end_follows_the_failure_policy(ramp_video: Path) -> None:
    records = [_record(ramp_video, 1.0), _record(ramp_video, 2.5, boxes=(A, B), actions=((1,), ()))]
    common = dict(num_frames=2, frame_interval=1, target_fps=None, size=16)
    with pytest.raises(FrameOutOfRangeError, match=r"keyframe 2\.5s of 'ramp' is outside the video"):
        KeyframeClipDataset(records, [1], **common)[1]
    ds = KeyframeClipDataset(records, [1], on_error="skip", **common)
    batch = collate_keyframes([ds[0], ds[1]])
    assert batch["num_samples"] == 1 and len(batch["failures"]) == 1 and batch["failures"][0].index == 1
    assert batch["clip"].shape == (1, 3, 2, 16, 16) and batch["mask"].tolist() == [[True]]
    assert collate_keyframes([ds[1]]) == {"failures": [ds.failures[-1]], "num_samples": 0}


def test_collate_pads_boxes_and_targets_with_a_mask(ramp_video: Path) -> None:
    records = [_record(ramp_video, 1.0, boxes=(A, B), actions=((1,), (2,))), _record(ramp_video, 1.5)]
    ds = KeyframeClipDataset(records, [1, 2], num_frames=2, frame_interval=1, target_fps=None, size=16)
    batch = collate_keyframes([ds[0], ds[1]])
    assert batch["boxes"].shape == (2, 2, 4) and batch["mask"].tolist() == [[True, True], [True, False]]
    assert batch["targets"].tolist() == [[[1, 0], [0, 1]], [[1, 0], [0, 0]]]
    assert batch["objects"].shape == (2, 1, 4) and not batch["object_mask"].any()
    assert batch["time_s"] == [1.0, 1.5] and batch["video_id"] == ["ramp", "ramp"]
