"""``vidstruct check-data CONFIG [key=value ...]``: decode every sample of the configured datasets.

A localization config (``task: localization``) trains on snippet features: its check reads each split's
annotations and reports the annotated videos without usable features in ``data.features``. An action-detection
config (``task: detection``) reads each split's AVA CSV against its label map and decodes every annotated video,
reporting missing videos and keyframes past a video's end.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "check-data"
HELP = (
    "decode every sample of the config's datasets in parallel and list the broken ones (exit 1 if any); "
    "localization configs: list the annotated videos without features; detection configs: decode every annotated "
    "video and check its keyframes"
)
SPLITS = ("train", "val", "test")
TASKS = ("recognition", "mosi", "localization", "detection")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config with a data section (data.train / data.val / data.test)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.train.root=/videos")
    parser.add_argument("--splits", default=",".join(SPLITS), help="comma-separated splits to check")
    parser.add_argument("--workers", type=int, default=2, help="decoding processes (0: in this process)")
    parser.add_argument("--quick", action="store_true", help="decode first/middle/last frame only, not every frame")
    parser.add_argument("--json", action="store_true", help="print JSON: per-split counts and the bad samples")


def load_split_records(config: str, overrides: list[str], splits: list[str]) -> dict[str, list[Any]]:
    """Records of each configured split, built by the recipe's :func:`~vidstruct.recipes.recognition.read_split`."""
    from vidstruct.config import load_task_section
    from vidstruct.errors import ConfigError
    from vidstruct.recipes.recognition import read_split

    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ConfigError(f"--splits: unknown split {unknown[0]!r} (expected some of {', '.join(SPLITS)})")
    task, data = load_task_section(config, overrides, "data", tasks=TASKS, command="check-data")
    if task == "localization":
        return localization_videos(config, data, splits)
    if task == "detection":
        return keyframe_videos(config, data, splits)
    records = {split: list(read_split(data, split)) for split in splits if getattr(data, split) is not None}
    if not records:
        raise ConfigError(f"{config}: no dataset configured under data.{'/'.join(splits)}")
    return records


def keyframe_videos(config: str, data: Any, splits: list[str]) -> dict[str, list[Any]]:
    """One record per annotated video of each split of a detection ``data`` section: its file under
    ``data.videos`` (the expected path when none exists, so the check reports it) and its last keyframe
    (``last_keyframe_s``, seconds). Malformed CSVs or label maps are one-line errors."""
    from pathlib import Path
    from types import SimpleNamespace

    from vidstruct.data.detection.records import VIDEO_SUFFIXES
    from vidstruct.data.formats.ava import read_ava, read_ava_label_map
    from vidstruct.errors import ConfigError

    labels = read_ava_label_map(data.label_map)
    folder = Path(data.videos)
    videos = {}
    for split in splits:
        annotations = getattr(data, split, None)
        if not annotations:
            continue
        last: dict[str, float] = {}
        for row in read_ava(annotations, label_map=labels):
            last[row.video_id] = max(last.get(row.video_id, 0.0), float(row.timestamp_s))
        videos[split] = [
            SimpleNamespace(
                path=str(next((folder / f"{vid}{s}" for s in VIDEO_SUFFIXES if (folder / f"{vid}{s}").is_file()),
                              folder / f"{vid}{VIDEO_SUFFIXES[0]}")),
                last_keyframe_s=t,
            )
            for vid, t in last.items()
        ]  # fmt: skip
    if not videos:
        raise ConfigError(f"{config}: no dataset configured under data.{'/'.join(splits)}")
    return videos


def localization_videos(config: str, data: Any, splits: list[str]) -> dict[str, list[Any]]:
    """Annotated videos of each configured split of a localization ``data`` section (its reader; durations from
    the feature directory, which must exist: a missing or malformed one is a one-line error)."""
    from vidstruct.data.features import FeatureStore
    from vidstruct.data.localization import read_localization_annotations
    from vidstruct.errors import ConfigError

    store = FeatureStore(data.features)
    durations = {vid: float(store.entry(vid)["duration_s"]) for vid in store.video_ids}
    videos = {}
    for split in splits:
        section = getattr(data, split, None)
        if section is not None:
            ann = read_localization_annotations(
                data.format, section.annotations, subset=section.subset, classes=data.classes, durations=durations,
                epic_label=data.epic_label,
            )  # fmt: skip
            videos[split] = list(ann.videos)
    if not videos:
        raise ConfigError(f"{config}: no dataset configured under data.{'/'.join(splits)}")
    return videos


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: `vidstruct --help` imports every command module (see train.py)
    from vidstruct.cli.output import print_json, progress
    from vidstruct.data.check import check_features, iter_check
    from vidstruct.data.features import FeatureStore

    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    datasets = load_split_records(args.config, args.overrides, splits)
    features = _features_dir(args.config, args.overrides)
    mode = "quick" if args.quick else "full"
    summary: dict[str, dict[str, int]] = {}
    bad = []
    for split, records in datasets.items():
        if features is not None:
            results = iter(check_features(FeatureStore(features), records, split=split, mode=mode))
        else:
            results = iter_check(records, split=split, workers=args.workers, mode=mode)
        failed = [r for r in progress(results, total=len(records), description=split, quiet=args.quiet) if not r.ok]
        summary[split] = {"samples": len(records), "bad": len(failed)}
        bad.extend(sorted(failed, key=lambda r: r.index))
    if args.json:
        print_json({"splits": summary, "bad": [r.to_dict() for r in bad]})
    else:
        for split, counts in summary.items():
            print(f"{split}: {counts['samples']} samples, {counts['bad']} bad")
        for r in bad:
            print(f"BAD {r.split}[{r.index}] {r.path}: {r.error}: {r.reason}")
    if bad:
        what = "annotated video(s) lack usable features" if features is not None else "sample(s) failed to decode"
        print(f"error: {len(bad)} {what}", file=sys.stderr)
        return 1
    return 0


def _features_dir(config: str, overrides: list[str]) -> str | None:
    """``data.features`` of a localization config (its samples are feature files), else ``None``."""
    from vidstruct.config import load_task_section

    task, data = load_task_section(config, overrides, "data", tasks=TASKS, command="check-data")
    return str(data.features) if task == "localization" else None
