"""``KeyframeClipDataset``: a clip centred on each keyframe, its person boxes and multi-hot action targets.

``dataset[i]`` decodes record ``i`` and returns::

    {"clip": float [3, T, S, S]          # normalized (mean / std), S = size
     "boxes": float [N, 4]               # normalized [x1, y1, x2, y2] of the keyframe's persons
     "targets": float [N, K]             # multi-hot over the K classes (class_ids order)
     "objects": float [M, 4]             # object boxes at the keyframe (M = 0 without an object source)
     "index": i, "video_id": str, "time_s": float}

Sampling (the backbone's): ``T = num_frames`` frames ``frame_interval`` apart at ``target_fps`` (the video's
own rate when ``None``), centred on the keyframe: frame ``T // 2`` is the one displayed at the keyframe, times
``time_s + (j - T // 2) * frame_interval / fps``. Times before the start or after the last frame are clamped
(the first / last frame repeats). Frames are resized to ``S × S`` (the aspect ratio is not kept: boxes are
normalized, so they stay valid).

Training augmentation (``train=True``): each box's corners move by up to ``box_jitter`` × its width / height
(uniform, clipped to the frame); with ``hflip`` the clip is mirrored with probability 1/2, and so are the boxes
(``x1' = 1 - x2``, ``x2' = 1 - x1``) and the labels of ``flip_pairs`` (e.g. move_left ↔ move_right).

Failure policy (``on_error``) for :class:`~vidstruct.io.errors.VideoDecodeError` (a corrupt or vanished video,
a keyframe at or past the video's end): ``"raise"`` re-raises; ``"skip"`` returns a marker
``{"failed": DecodeFailure, ...}`` that :func:`collate_keyframes` drops and reports in ``batch["failures"]``.
Both log the failure with its path and reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from vidstruct.data.dataset import DecodeFailure
from vidstruct.data.detection.records import KeyframeRecord
from vidstruct.data.reader_cache import ReaderCache
from vidstruct.errors import ConfigError
from vidstruct.io.errors import FrameOutOfRangeError, VideoDecodeError
from vidstruct.io.reader import VideoReader

__all__ = ["KeyframeClipDataset", "collate_keyframes", "flip_boxes", "jitter_boxes", "keyframe_clip_times", "pad_boxes"]

log = logging.getLogger(__name__)


def keyframe_clip_times(time_s: float, num_frames: int, frame_interval: int, fps: float) -> np.ndarray:
    """Sample times (seconds) ``[T]`` of a clip centred on ``time_s`` (see module doc; not clamped)."""
    return time_s + (np.arange(num_frames) - num_frames // 2) * (frame_interval / fps)


def flip_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Mirror normalized ``[..., 4]`` boxes left-right: ``[1 - x2, y1, 1 - x1, y2]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([1 - x2, y1, 1 - x1, y2], dim=-1)


def jitter_boxes(boxes: torch.Tensor, amount: float, rng: np.random.Generator, min_size: float = 1e-3) -> torch.Tensor:
    """Move each corner of ``[N, 4]`` boxes by ``U(-amount, amount)`` × the box's width / height; clip to ``[0, 1]``."""
    if amount <= 0 or len(boxes) == 0:
        return boxes
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    shift = torch.from_numpy(rng.uniform(-amount, amount, size=tuple(boxes.shape))).float() * wh
    out = (boxes + shift).clamp(0.0, 1.0)
    out[:, 2:] = torch.maximum(out[:, 2:], out[:, :2] + min_size).clamp(max=1.0)
    out[:, :2] = torch.minimum(out[:, :2], out[:, 2:] - min_size)
    return out


def pad_boxes(per_sample: Sequence[torch.Tensor], width: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``[N_i, width]`` per sample → zero-padded ``[B, N_max, width]`` and ``mask`` ``[B, N_max]`` (True: real)."""
    n = max([len(b) for b in per_sample] + [1])
    out = torch.zeros((len(per_sample), n, width), dtype=torch.float32)
    mask = torch.zeros((len(per_sample), n), dtype=torch.bool)
    for i, b in enumerate(per_sample):
        out[i, : len(b)] = b
        mask[i, : len(b)] = True
    return out, mask


class KeyframeClipDataset(Dataset):
    """Keyframe clips with boxes and targets (see module doc).

    - ``records``: :func:`~vidstruct.data.detection.records.keyframe_records`; ``class_ids``: the AVA action id of
      each output (target column ``k`` is ``class_ids[k]``); action ids outside it are ignored;
    - ``num_frames`` / ``frame_interval`` / ``target_fps``: sampling; ``size``: output ``S``; ``mean`` / ``std``:
      normalization in [0, 1] RGB units;
    - ``train``: random box jitter and flips (``box_jitter``, ``hflip``, ``flip_pairs``: class-index pairs);
    - ``objects``: ``{(video_id, time_s): [[x1, y1, x2, y2], ...]}`` object boxes per keyframe (optional);
    - ``on_error``: ``"raise"`` | ``"skip"``.
    """

    def __init__(
        self,
        records: Sequence[KeyframeRecord],
        class_ids: Sequence[int],
        *,
        num_frames: int,
        frame_interval: int,
        target_fps: float | None,
        size: int,
        mean: Sequence[float] = (0.45, 0.45, 0.45),
        std: Sequence[float] = (0.225, 0.225, 0.225),
        train: bool = False,
        box_jitter: float = 0.0,
        hflip: bool = False,
        flip_pairs: Sequence[tuple[int, int]] = (),
        objects: Mapping[tuple[str, float], Sequence[Sequence[float]]] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        reader_cache: int = 4,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.records = list(records)
        self.class_ids = [int(c) for c in class_ids]
        self._column = {c: k for k, c in enumerate(self.class_ids)}
        self.num_frames, self.frame_interval, self.target_fps = num_frames, frame_interval, target_fps
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)
        self.train, self.box_jitter, self.hflip = train, box_jitter, hflip
        swap = list(range(len(self.class_ids)))
        for a, b in flip_pairs:
            swap[a], swap[b] = b, a
        self.flip_permutation = torch.tensor(swap, dtype=torch.long)
        self.objects = dict(objects or {})
        self.on_error = on_error
        self.reader_cache = max(1, reader_cache)
        self.failures: list[DecodeFailure] = []
        self._readers = ReaderCache(self.reader_cache)  # open files never cross process boundaries

    def __len__(self) -> int:
        return len(self.records)

    def _reader(self, path: str) -> VideoReader:
        return self._readers.get(path, self._open_reader)

    def _open_reader(self, path: str) -> VideoReader:
        return VideoReader(path, short_side=self.size, threads=1)

    def targets(self, record: KeyframeRecord) -> torch.Tensor:
        """Multi-hot ``[N, K]`` of a record's boxes (ids not in ``class_ids`` are ignored)."""
        out = torch.zeros((len(record.boxes), len(self.class_ids)), dtype=torch.float32)
        for i, actions in enumerate(record.actions):
            for a in actions:
                if a in self._column:
                    out[i, self._column[a]] = 1.0
        return out

    def load_frames(self, record: KeyframeRecord) -> torch.Tensor:
        """Decoded uint8 frames ``[T, H, W, C]`` of the clip centred on the record's keyframe."""
        reader = self._reader(record.path)
        try:
            times = reader.index.times_s
            if not 0.0 <= record.time_s < reader.duration_s:
                raise FrameOutOfRangeError(
                    record.path,
                    f"keyframe {record.time_s:.6g}s of {record.video_id!r} is outside the video "
                    f"(duration {reader.duration_s:.6g}s)",
                )
            fps = self.target_fps or reader.fps
            wanted = keyframe_clip_times(record.time_s, self.num_frames, self.frame_interval, fps)
            indices = reader.index_at(np.clip(wanted, 0.0, float(times[-1])))
            return reader.get_frames(indices)
        except VideoDecodeError:
            self._readers.drop(record.path)
            raise

    def to_clip(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``[T, H, W, C]`` → normalized float ``[C, T, S, S]``."""
        x = frames.permute(0, 3, 1, 2).float().div_(255.0)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return (x.permute(1, 0, 2, 3) - self.mean) / self.std

    def load(self, i: int) -> dict[str, Any]:
        """Sample ``i`` (see module doc); decode errors propagate."""
        record = self.records[i]
        clip = self.to_clip(self.load_frames(record))
        boxes = torch.tensor(record.boxes, dtype=torch.float32).reshape(-1, 4)
        targets = self.targets(record)
        objects = torch.tensor(self.objects.get((record.video_id, record.time_s), []), dtype=torch.float32)
        objects = objects.reshape(-1, 4)
        if self.train:
            rng = np.random.default_rng(np.random.randint(0, 2**31 - 1, size=2))  # seeded per sample by the engine
            boxes = jitter_boxes(boxes, self.box_jitter, rng)
            if self.hflip and rng.random() < 0.5:
                clip, boxes, objects = clip.flip(-1), flip_boxes(boxes), flip_boxes(objects)
                targets = targets[:, self.flip_permutation]
        return {
            "clip": clip, "boxes": boxes, "targets": targets, "objects": objects, "index": i,
            "video_id": record.video_id, "time_s": record.time_s,
        }  # fmt: skip

    def __getitem__(self, i: int) -> dict[str, Any]:
        try:
            return self.load(int(i))
        except VideoDecodeError as exc:
            failure = DecodeFailure(int(i), self.records[i].path, type(exc).__name__, exc.reason)
            self.failures.append(failure)
            log.warning("failed to load keyframe %s", failure)
            if self.on_error == "raise":
                raise
            return {"failed": failure, "index": int(i), "path": failure.path}


def collate_keyframes(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Samples → ``{"clip": [B, 3, T, S, S], "boxes": [B, N, 4], "mask": [B, N], "targets": [B, N, K],
    "objects": [B, M, 4], "object_mask": [B, M], "index": [B], "video_id": [...], "time_s": [...],
    "failures": [DecodeFailure], "num_samples": B}``; skipped samples are dropped (a batch where all failed holds
    only ``failures`` and ``num_samples = 0``)."""
    good = [s for s in batch if "failed" not in s]
    out: dict[str, Any] = {"failures": [s["failed"] for s in batch if "failed" in s], "num_samples": len(good)}
    if not good:
        return out
    boxes, mask = pad_boxes([s["boxes"] for s in good])
    k = good[0]["targets"].shape[1]
    targets, _ = pad_boxes([s["targets"] for s in good], width=k)
    objects, object_mask = pad_boxes([s["objects"] for s in good])
    out.update(
        clip=torch.stack([s["clip"] for s in good]), boxes=boxes, mask=mask, targets=targets, objects=objects,
        object_mask=object_mask, index=torch.tensor([s["index"] for s in good]),
        video_id=[s["video_id"] for s in good], time_s=[float(s["time_s"]) for s in good],
    )  # fmt: skip
    return out
