"""Decode every sample of a dataset and report the ones that fail (``vidstruct check-data``).

Localization datasets train on snippet features, not videos: :func:`check_features` reports the annotated
videos that have no features in the feature directory (or whose feature files are missing or malformed).

``check_records(records, workers=2)`` checks records in a process pool. A
check opens the video, builds its frame index and decodes every frame of the
record's segment (``mode="full"``; nothing is converted to RGB) or only the
first, middle and last frame (``mode="quick"``). A file that crashes a worker
process outright is re-checked alone in a fresh process and reported as
"decoder process crashed (killed by SIGSEGV)" instead of taking the whole check
down (:func:`vidstruct.data.procpool.map_surviving`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from vidstruct.data.dataset import segment_frames
from vidstruct.data.features import FeatureStore, FeatureStoreError
from vidstruct.data.procpool import WorkerDied, map_surviving
from vidstruct.errors import VidstructError
from vidstruct.io.errors import VideoDecodeError
from vidstruct.io.reader import VideoReader

Mode = Literal["full", "quick"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome for one record: ``ok``, frames decoded / expected, and the error class and reason if bad."""

    split: str
    index: int
    path: str
    ok: bool
    decoded: int = 0
    expected: int = 0
    error: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_record(record: Any, *, index: int = 0, split: str = "", mode: Mode = "full") -> CheckResult:
    """Check one record (anything with ``path``, optional ``start_s`` / ``end_s``, and for keyframe datasets
    ``last_keyframe_s``, which must lie before the video's end)."""
    path = getattr(record, "path", None)
    if not path:
        return CheckResult(split, index, str(path), False, error="MissingPath", reason="record has no video path")
    reader = VideoReader(path, threads=1)
    try:
        first, count = segment_frames(reader, getattr(record, "start_s", None), getattr(record, "end_s", None))
        if mode == "full":
            decoded = reader.verify(first, first + count)
        else:
            picks = np.unique([first, first + count // 2, first + count - 1])
            decoded = int(reader.get_frames(picks).shape[0])
            count = int(picks.size)
        last_keyframe = getattr(record, "last_keyframe_s", None)  # detection: keyframes must lie in the video
        if last_keyframe is not None and last_keyframe >= reader.duration_s:
            reason = f"keyframe {last_keyframe:g}s is past the video's end ({reader.duration_s:.3f}s)"
            return CheckResult(split, index, str(path), False, decoded, count, "KeyframeOutOfRange", reason)
        return CheckResult(split, index, str(path), True, decoded=decoded, expected=count)
    except VideoDecodeError as exc:
        return CheckResult(split, index, str(path), False, error=type(exc).__name__, reason=exc.reason)
    except VidstructError as exc:
        return CheckResult(split, index, str(path), False, error=type(exc).__name__, reason=str(exc))
    finally:
        reader.close()


def _check_job(job: tuple[Any, int, str, Mode]) -> CheckResult:
    record, index, split, mode = job
    return check_record(record, index=index, split=split, mode=mode)


def check_records(
    records: Sequence[Any],
    *,
    split: str = "",
    workers: int = 2,
    mode: Mode = "full",
) -> list[CheckResult]:
    """Check every record (in ``workers`` processes; 0 = in this process); results in record order."""
    results = {r.index: r for r in iter_check(records, split=split, workers=workers, mode=mode)}
    return [results[i] for i in range(len(records))]


def iter_check(
    records: Sequence[Any], *, split: str = "", workers: int = 2, mode: Mode = "full"
) -> Iterator[CheckResult]:
    """Yield a :class:`CheckResult` per record as checks finish (completion order)."""
    jobs = [(record, i, split, mode) for i, record in enumerate(records)]
    if workers <= 0:
        for job in jobs:
            yield _check_job(job)
        return
    for (record, i, split_name, _), result in map_surviving(_check_job, jobs, workers=min(workers, max(1, len(jobs)))):
        if isinstance(result, WorkerDied):
            path = str(getattr(record, "path", ""))
            reason = f"decoder process crashed ({result.reason})"
            yield CheckResult(split_name, i, path, False, error="DecoderCrash", reason=reason)
        else:
            yield result


def check_features(
    store: FeatureStore, videos: Sequence[Any], *, split: str = "", mode: Mode = "full"
) -> list[CheckResult]:
    """One :class:`CheckResult` per untrimmed video (anything with ``video_id``), in order: ``MissingFeatures`` when
    ``store`` has no entry for it (with the extraction's error when it recorded one); with ``mode="full"`` its
    feature files are also read and checked (shape, dtype: ``FeatureStoreError``). ``path`` is the video id."""
    results = []
    for i, video in enumerate(videos):
        vid = str(video.video_id)
        if vid not in store:
            reason = f"no features in {store.path} for this annotated video"
            if vid in store.failed:
                reason += f" (extract-features failed: {store.failed[vid]})"
            results.append(CheckResult(split, i, vid, False, error="MissingFeatures", reason=reason))
            continue
        n = int(store.entry(vid)["num_snippets"])
        if mode == "full":
            try:
                store.load(vid)
            except FeatureStoreError as exc:
                results.append(
                    CheckResult(split, i, vid, False, expected=n, error="FeatureStoreError", reason=str(exc))
                )
                continue
        results.append(CheckResult(split, i, vid, True, decoded=n, expected=n))
    return results
