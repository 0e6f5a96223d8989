"""VideoClipDataset: clip layout, segments, padding, and the decode-failure policy (also with workers)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidstruct.data.dataset import (
    DecodeFailure,
    FailureTally,
    VideoClipDataset,
    collate_skip_failed,
    segment_frames,
)
from vidstruct.data.records import ClipRecord
from vidstruct.errors import ConfigError
from vidstruct.io import NoFramesError, VideoNotFoundError, VideoReader, write_video

SIZE = 32


def _id_frame(i: int) -> np.ndarray:
    """Frame ``i`` shows ``i`` in binary as a 4 x 4 grid of white (1) / black (0) blocks."""
    frame = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    b = SIZE // 4
    for k in range(16):
        if (i >> k) & 1:
            r, c = divmod(k, 4)
            frame[r * b : (r + 1) * b, c * b : (c + 1) * b] = 255
    return frame


def _ids(clip: torch.Tensor) -> list[int]:
    """Frame numbers of a float ``[C, T, H, W]`` clip in [0, 1]."""
    frames = clip.permute(1, 2, 3, 0)  # T, H, W, C
    h, w = frames.shape[1:3]
    out = []
    for f in frames:
        v = 0
        for k in range(16):
            r, c = divmod(k, 4)
            block = f[
                int((r + 0.25) * h / 4) : int((r + 0.75) * h / 4), int((c + 0.25) * w / 4) : int((c + 0.75) * w / 4)
            ]
            v |= int(block.mean() > 0.5) << k
        out.append(v)
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three id videos (30, 30, 12 frames at 25 fps) and one whose frames cannot be decoded."""
    d = tmp_path_factory.mktemp("dataset")
    for name, n in (("a", 30), ("b", 30), ("short", 12)):
        write_video(d / f"{name}.mp4", (_id_frame(i) for i in range(n)), 25, gop=5)
    data = bytearray((d / "a.mp4").read_bytes())
    at = data.find(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = np.random.default_rng(0).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    (d / "noise.mp4").write_bytes(bytes(data))
    return d


def fixed(*views: list[int]):
    """A sampler returning the given relative indices, recording what it was called with."""

    def sampler(num_frames: int, fps: float, rng: np.random.Generator | None) -> list[np.ndarray]:
        sampler.calls.append((num_frames, fps, rng))
        return [np.asarray(v) for v in views]

    sampler.calls = []
    return sampler


def test_sample_layout_identity_and_labels(root: Path) -> None:
    records = [ClipRecord(str(root / "a.mp4"), 3, labels={"verb": 1, "noun": 7})]
    ds = VideoClipDataset(records, fixed([0, 2, 4, 29]))
    sample = ds[0]
    clip = sample["clip"]
    assert clip.dtype == torch.float32 and clip.shape == (3, 4, SIZE, SIZE)
    assert 0.0 <= clip.min() and clip.max() <= 1.0
    assert _ids(clip) == [0, 2, 4, 29]
    assert sample["label"] == 3 and sample["labels"] == {"verb": 1, "noun": 7}
    assert sample["index"] == 0 and sample["path"] == str(root / "a.mp4") and sample["failures"] == ()
    assert ds.sampler.calls == [(30, pytest.approx(25.0), None)]


def test_multiple_views_stack_to_vcthw(root: Path) -> None:
    ds = VideoClipDataset([ClipRecord(str(root / "b.mp4"), 0)], fixed([1, 2], [20, 21]))
    clip = ds[0]["clip"]
    assert clip.shape == (2, 3, 2, SIZE, SIZE)
    assert _ids(clip[0]) == [1, 2] and _ids(clip[1]) == [20, 21]


def test_transform_receives_uint8_thwc_and_short_side_resizes(root: Path) -> None:
    seen = []

    def transform(frames: torch.Tensor) -> torch.Tensor:
        seen.append((frames.dtype, tuple(frames.shape)))
        return frames.permute(3, 0, 1, 2).float() / 255

    ds = VideoClipDataset([ClipRecord(str(root / "a.mp4"), 0)], fixed([5, 6, 7]), transform, short_side=16)
    clip = ds[0]["clip"]
    assert seen == [(torch.uint8, (3, 16, 16, 3))]
    assert clip.shape == (3, 3, 16, 16) and _ids(clip) == [5, 6, 7]


def test_segment_indices_are_relative_to_start(root: Path) -> None:
    # frames k of a 25 fps video is shown from k / 25 s: [0.4 s, 0.8 s) holds frames 10..19
    record = ClipRecord(str(root / "a.mp4"), 1, start_s=0.4, end_s=0.8)
    ds = VideoClipDataset([record], fixed([0, 3, 9]))
    assert _ids(ds[0]["clip"]) == [10, 13, 19]
    assert ds.sampler.calls[0][0] == 10
    assert segment_frames(VideoReader(root / "a.mp4"), 0.4, 0.8) == (10, 10)
    assert segment_frames(VideoReader(root / "a.mp4"), 1.0, None) == (25, 5)


def test_padding_clamps_to_the_last_frame(root: Path) -> None:
    """Documented rule: indices past the end (video shorter than the clip) repeat the last frame."""
    ds = VideoClipDataset([ClipRecord(str(root / "short.mp4"), 0)], fixed(list(range(16))))
    assert _ids(ds[0]["clip"]) == list(range(12)) + [11] * 4
    seg = VideoClipDataset([ClipRecord(str(root / "a.mp4"), 0, start_s=0.4, end_s=0.6)], fixed([-2, 0, 4, 9]))
    assert _ids(seg[0]["clip"]) == [10, 10, 14, 14]  # clamped into the 5-frame segment 10..14


def test_works_with_the_interval_sampler(root: Path) -> None:
    from vidstruct.data.samplers import IntervalSampler

    # test mode (rng None), 30 frames, clip_len 4, interval 2: span 7, 24 valid offsets, offset int(24 / 2) = 12
    ds = VideoClipDataset([ClipRecord(str(root / "a.mp4"), 0)], IntervalSampler(clip_len=4, frame_interval=2))
    assert _ids(ds[0]["clip"]) == [12, 14, 16, 18]


def test_random_mode_passes_a_seeded_generator(root: Path) -> None:
    sampler = fixed([0])
    ds = VideoClipDataset([ClipRecord(str(root / "a.mp4"), 0)], sampler, random=True)
    draws = []
    for _ in range(2):
        np.random.seed(7)
        ds[0]
        draws.append(sampler.calls[-1][2].integers(0, 2**31))
    assert isinstance(sampler.calls[-1][2], np.random.Generator) and draws[0] == draws[1]


def _records(root: Path) -> list[ClipRecord]:
    names = ["a.mp4", "missing.mp4", "b.mp4", "noise.mp4", "short.mp4", "a.mp4"]
    return [ClipRecord(str(root / n), i) for i, n in enumerate(names)]


def test_skip_returns_a_marker_and_counts(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = VideoClipDataset(_records(root), fixed([0, 1]), on_error="skip")
    with caplog.at_level(logging.WARNING):
        marker = ds[1]
    assert set(marker) == {"failed", "index", "path"}
    failure = marker["failed"]
    assert isinstance(failure, DecodeFailure) and failure.index == 1 and failure.error == "VideoNotFoundError"
    assert str(root / "missing.mp4") in caplog.text and "no such file" in caplog.text
    assert ds[3]["failed"].error == "NoFramesError"
    assert [f.index for f in ds.failures] == [1, 3]

    batch = collate_skip_failed([ds[i] for i in range(len(ds))])
    assert batch["clip"].shape == (4, 3, 2, SIZE, SIZE)
    assert batch["index"].tolist() == [0, 2, 4, 5] and batch["label"].tolist() == [0, 2, 4, 5]
    assert [f.index for f in batch["failures"]] == [1, 3] and batch["num_skipped"] == 2
    tally = FailureTally()
    tally.update(batch)
    assert tally.count == 2 and tally.samples == 4
    assert tally.summary().startswith("2 decode failure(s) (2 skipped, 0 substituted) in 4 delivered samples")


def test_substitute_is_deterministic_and_logged(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = _records(root)
    ds = VideoClipDataset(records, fixed([0]), on_error="substitute", substitute_seed=5)
    with caplog.at_level(logging.WARNING):
        sample = ds[1]
    assert sample["substituted_for"] == 1 and sample["index"] != 1
    assert records[sample["index"]].path not in (str(root / "missing.mp4"), str(root / "noise.mp4"))
    assert sample["label"] == sample["index"]  # the label travels with the substitute's record
    assert [f.index for f in sample["failures"]][0] == 1
    assert "substituting sample" in caplog.text and "for failed sample 1" in caplog.text
    again = VideoClipDataset(records, fixed([0]), on_error="substitute", substitute_seed=5)[1]
    assert again["index"] == sample["index"]  # same choice in a fresh dataset (e.g. another worker)
    batch = collate_skip_failed([ds[0], sample])
    assert batch["substituted_for"].tolist() == [-1, 1] and len(batch["failures"]) == len(sample["failures"])


def test_raise_propagates_the_typed_error(root: Path) -> None:
    ds = VideoClipDataset(_records(root), fixed([0]), on_error="raise")
    with pytest.raises(VideoNotFoundError, match="missing.mp4: no such file"):
        ds[1]
    with pytest.raises(NoFramesError):
        ds[3]
    assert len(ds.failures) == 2


def test_bad_policy_is_a_config_error(root: Path) -> None:
    with pytest.raises(ConfigError, match="on_error"):
        VideoClipDataset(_records(root), fixed([0]), on_error="ignore")  # type: ignore[arg-type]


def test_giving_up_after_too_many_failed_substitutes(root: Path) -> None:
    bad = [ClipRecord(str(root / "missing.mp4"), 0), ClipRecord(str(root / "noise.mp4"), 1)]
    ds = VideoClipDataset(bad, fixed([0]), on_error="substitute", max_substitutions=3)
    with pytest.raises(Exception, match="substitutes in a row failed"):
        ds[0]


@pytest.mark.parametrize(("policy", "delivered"), [("skip", 4), ("substitute", 6)])
def test_failures_are_counted_in_the_main_process_with_workers(root: Path, policy: str, delivered: int) -> None:
    ds = VideoClipDataset(_records(root), fixed([0, 3]), on_error=policy)  # type: ignore[arg-type]
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_skip_failed)
    tally = FailureTally()
    seen = []
    for batch in loader:
        tally.update(batch)
        if batch["num_samples"]:
            seen += batch["index"].tolist()
            assert batch["clip"].shape[1:] == (3, 2, SIZE, SIZE)
    assert ds.failures == []  # the main process decoded nothing itself
    assert tally.samples == delivered and len(seen) == delivered
    assert sorted({f.index for f in tally.failures}) == [1, 3]
    if policy == "skip":
        assert tally.count == 2 and sorted(seen) == [0, 2, 4, 5]
    else:
        assert tally.count >= 2 and 1 not in seen and 3 not in seen
