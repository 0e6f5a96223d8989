"""Map-style clip dataset over :class:`~vidstruct.data.records.ClipRecord` lists, with an explicit failure policy.

``VideoClipDataset(records, sampler, transform, on_error="skip")[i]`` decodes
the clip(s) the sampler picks from record ``i`` and returns::

    {"clip": float [C, T, H, W] (one view) or [V, C, T, H, W] (V views),
     "label": int, "labels": dict[str, int], "index": int, "path": str,
     "failures": tuple[DecodeFailure, ...]}   # earlier failures this sample replaced

Sampling: ``sampler(num_frames, fps, rng) -> list[np.ndarray]`` gives frame
indices per view, relative to the record's segment (``start_s``/``end_s``,
converted to frames by pts: the segment holds the frames whose presentation
time lies in ``[start_s, end_s)``). **Padding rule**: indices outside the
segment are clamped into it, so a video shorter than the clip repeats its
last frame (and never reads a frame before the segment). A video with zero
frames is an error. ``rng`` is ``None`` unless ``random=True``; it is drawn
from NumPy's global generator, which DataLoader workers and
:class:`vidstruct.engine.sampling.SeededSamples` seed per worker / sample.

Failure policy (``on_error``), for :class:`~vidstruct.io.errors.VideoDecodeError`
only (anything else is a bug and propagates):

- ``"raise"``: re-raise (after logging);
- ``"skip"``: return a marker ``{"failed": DecodeFailure, "index": i, "path": ...}``;
  :func:`collate_skip_failed` drops it from the batch and reports it;
- ``"substitute"``: load another record chosen deterministically from
  ``(substitute_seed, i, attempt)`` and return it with ``"index"`` set to the
  record actually loaded, ``"substituted_for": i`` and the failure in
  ``"failures"``; logged as a warning, never silent.

Every failure is logged with path and reason, counted in ``dataset.failures``
(this process) and travels with the batch, so with ``num_workers > 0`` the
main process still sees every failure: use ``collate_fn=collate_skip_failed``
and :class:`FailureTally` (``tally.update(batch)``; ``tally.summary()``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from vidstruct.data.reader_cache import ReaderCache
from vidstruct.data.records import ClipRecord
from vidstruct.errors import ConfigError, InputError, VidstructError
from vidstruct.io.errors import FrameOutOfRangeError, NoFramesError, VideoDecodeError
from vidstruct.io.reader import VideoReader

log = logging.getLogger(__name__)

OnError = Literal["skip", "substitute", "raise"]
Sampler = Callable[[int, float, "np.random.Generator | None"], Sequence[np.ndarray]]
Transform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DecodeFailure:
    """One sample that failed to load: dataset ``index``, video ``path``, error class and ``reason``."""

    index: int
    path: str
    error: str
    reason: str

    def __str__(self) -> str:
        return f"sample {self.index} ({self.path}): {self.error}: {self.reason}"


def default_transform(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``[T, H, W, C]`` → float32 ``[C, T, H, W]`` in ``[0, 1]`` (no resizing or normalization)."""
    return frames.permute(3, 0, 1, 2).float().div_(255.0)


def segment_frames(reader: VideoReader, start_s: float | None, end_s: float | None) -> tuple[int, int]:
    """``(first, count)``: the frames of ``reader`` whose presentation time lies in ``[start_s, end_s)``.

    ``None`` bounds mean the video's start / end. A segment shorter than one
    frame interval holds the single frame displayed at ``start_s``.
    """
    index = reader.index
    times = index.times_s
    if start_s is None and end_s is None:
        return 0, index.num_frames
    lo = 0.0 if start_s is None else float(start_s)
    hi = index.duration_s if end_s is None else min(float(end_s), index.duration_s)
    if lo >= index.duration_s or lo < 0:
        raise FrameOutOfRangeError(
            reader.path, f"segment start {lo:.6g}s is outside the video (duration {index.duration_s:.6g}s)"
        )
    if hi <= lo:
        raise FrameOutOfRangeError(reader.path, f"empty segment [{lo:.6g}s, {hi:.6g}s)")
    first = int(np.searchsorted(times, lo - 1e-6, side="left"))
    stop = int(np.searchsorted(times, hi - 1e-6, side="left"))
    if stop <= first:  # no frame starts inside: take the one on screen at start_s
        return int(index.index_at(lo)[0]), 1
    return first, stop - first


class VideoClipDataset(Dataset):
    """Clips of ``records`` decoded with :class:`~vidstruct.io.reader.VideoReader` (see module docs).

    - ``sampler``: ``(num_frames, fps, rng) -> list[int array]`` per view;
    - ``transform``: uint8 ``[T, H, W, C]`` → float ``[C, T, H, W]`` (default: scale to [0, 1]);
    - ``on_error``: ``"skip"`` | ``"substitute"`` | ``"raise"``;
    - ``short_side``: resize while decoding (before ``transform``);
    - ``random``: pass a random generator to the sampler (training);
    - ``decode_threads``: FFmpeg threads per reader (1 suits DataLoader workers);
    - ``max_substitutions``: substitute attempts before giving up (raises);
    - ``reader_cache``: open readers kept per process (segments of one long video share one).
    """

    def __init__(
        self,
        records: Sequence[ClipRecord],
        sampler: Sampler,
        transform: Transform | None = None,
        on_error: OnError = "skip",
        short_side: int | None = None,
        *,
        random: bool = False,
        decode_threads: int = 1,
        max_substitutions: int = 10,
        substitute_seed: int = 0,
        reader_cache: int = 4,
        reader_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if on_error not in ("skip", "substitute", "raise"):
            raise ConfigError(f"on_error must be 'skip', 'substitute' or 'raise', got {on_error!r}")
        if not callable(sampler):
            raise TypeError(f"sampler must be callable (num_frames, fps, rng) -> list of index arrays, got {sampler!r}")
        self.records = list(records)
        self.sampler = sampler
        self.transform = transform or default_transform
        self.on_error: OnError = on_error
        self.short_side = short_side
        self.random = random
        self.decode_threads = decode_threads
        self.max_substitutions = max_substitutions
        self.substitute_seed = substitute_seed
        self.reader_cache = max(1, reader_cache)
        self.reader_kwargs = dict(reader_kwargs or {})
        #: failures seen by *this* process (workers have their own: use collate_skip_failed + FailureTally)
        self.failures: list[DecodeFailure] = []
        self._readers = ReaderCache(self.reader_cache)  # open files never cross process boundaries

    def __len__(self) -> int:
        return len(self.records)

    # ------------------------------------------------------------------ loading
    def reader(self, path: str) -> VideoReader:
        """This process's cached reader of ``path`` (LRU of ``reader_cache`` readers)."""
        return self._readers.get(path, self._open_reader)

    def _open_reader(self, path: str) -> VideoReader:
        return VideoReader(path, short_side=self.short_side, threads=self.decode_threads, **self.reader_kwargs)

    def load(self, i: int) -> dict[str, Any]:
        """Decode and transform record ``i`` (no failure policy: decode errors propagate)."""
        record = self.records[i]
        reader = self.reader(record.path)
        try:
            first, count = segment_frames(reader, record.start_s, record.end_s)
        except VideoDecodeError:
            self._drop_reader(record.path)
            raise
        if count <= 0:
            raise NoFramesError(record.path, "the video stream holds zero frames")
        rng = _global_rng() if self.random else None
        views = [np.asarray(v, dtype=np.int64).reshape(-1) for v in self.sampler(count, reader.fps, rng)]
        if not views or any(v.size == 0 for v in views):
            raise InputError(f"sampler returned no frame indices for sample {i} ({record.path})")
        lengths = [v.size for v in views]
        absolute = first + np.clip(np.concatenate(views), 0, count - 1)  # padding rule: clamp into the segment
        try:
            frames = reader.get_frames(absolute)
        except VideoDecodeError:
            self._drop_reader(record.path)
            raise
        clips = [self.transform(chunk) for chunk in torch.split(frames, lengths)]
        clip = clips[0] if len(clips) == 1 else _stack_views(clips)
        return {
            "clip": clip,
            "label": int(record.label),
            "labels": dict(record.labels),
            "index": i,
            "path": record.path,
        }

    def _drop_reader(self, path: str) -> None:
        self._readers.drop(path)

    def __getitem__(self, i: int) -> dict[str, Any]:
        failures: list[DecodeFailure] = []
        candidate = int(i)
        for attempt in range(self.max_substitutions + 1):
            try:
                sample = self.load(candidate)
            except VideoDecodeError as exc:
                failure = DecodeFailure(candidate, self.records[candidate].path, type(exc).__name__, exc.reason)
                self.failures.append(failure)
                log.warning("failed to decode %s", failure)
                if self.on_error == "raise":
                    raise
                failures.append(failure)
                if self.on_error == "skip":
                    return {"failed": failure, "index": candidate, "path": failure.path}
                candidate = self._substitute(int(i), attempt)
                log.warning(
                    "substituting sample %d (%s) for failed sample %d", candidate, self.records[candidate].path, i
                )
                continue
            sample["failures"] = tuple(failures)
            if failures:
                sample["substituted_for"] = int(i)
            return sample
        raise VidstructError(
            f"sample {i}: {len(failures)} substitutes in a row failed to decode (last: {failures[-1]}); "
            "the dataset looks broken: run 'vidstruct check-data'"
        )

    def _substitute(self, i: int, attempt: int) -> int:
        """A deterministic replacement for sample ``i`` at ``attempt`` (never ``i`` itself when avoidable)."""
        n = len(self.records)
        if n == 1:
            return i
        rng = np.random.default_rng([self.substitute_seed, i, attempt])
        j = int(rng.integers(0, n - 1))
        return j if j < i else j + 1


def _global_rng() -> np.random.Generator:
    return np.random.default_rng(np.random.randint(0, 2**31 - 1, size=2))


def _stack_views(clips: list[torch.Tensor]) -> torch.Tensor:
    """Views → ``[V, C, T, H, W]`` (views that are already multi-crop ``[K, C, T, H, W]`` are concatenated)."""
    if all(c.ndim == 4 for c in clips):
        return torch.stack(clips)
    return torch.cat([c if c.ndim == 5 else c.unsqueeze(0) for c in clips])


def collate_skip_failed(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate samples, dropping ``"skip"`` markers; report every failure in ``batch["failures"]``.

    Returns the default-collated good samples (``clip`` ``[B, ...]``,
    ``label`` ``[B]``, ...) plus ``"failures"``: list of
    :class:`DecodeFailure` (skipped samples and those replaced by substitutes)
    ``"num_samples"``: ``B`` and ``"num_skipped"``. When every sample failed, the batch holds
    only ``failures`` and ``num_samples = 0``.
    """
    failures: list[DecodeFailure] = []
    good: list[dict[str, Any]] = []
    for sample in batch:
        if "failed" in sample:
            failures.append(sample["failed"])
            continue
        failures.extend(sample.get("failures", ()))
        good.append({k: v for k, v in sample.items() if k not in ("failures", "substituted_for")})
    out: dict[str, Any] = default_collate(good) if good else {}
    if good and any("substituted_for" in s for s in batch):
        out["substituted_for"] = torch.tensor([s.get("substituted_for", -1) for s in batch if "failed" not in s])
    out["failures"] = failures
    out["num_samples"] = len(good)
    out["num_skipped"] = len(batch) - len(good)
    return out


class FailureTally:
    """Main-process count of decode failures across batches from :func:`collate_skip_failed`."""

    def __init__(self) -> None:
        self.failures: list[DecodeFailure] = []
        self.samples = 0
        self.skipped = 0

    def update(self, batch: dict[str, Any]) -> None:
        self.failures.extend(batch.get("failures", ()))
        self.samples += int(batch.get("num_samples", 0))
        self.skipped += int(batch.get("num_skipped", 0))

    @property
    def count(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        """One line, e.g. ``"2 decode failures (2 skipped, 0 substituted) in 128 delivered samples: a.mp4 ..."``."""
        head = (
            f"{self.count} decode failure(s) ({self.skipped} skipped, {self.count - self.skipped} substituted) "
            f"in {self.samples} delivered samples"
        )
        if not self.failures:
            return head
        paths = sorted({f"{f.path} ({f.error})" for f in self.failures})
        shown = ", ".join(paths[:5]) + (f", ... (+{len(paths) - 5})" if len(paths) > 5 else "")
        return f"{head}: {shown}"
