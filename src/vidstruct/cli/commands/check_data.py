"""``vidstruct check-data CONFIG [key=value ...]``: decode every sample of the configured datasets."""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "check-data"
HELP = "decode every sample of the config's datasets in parallel and list the broken ones (exit 1 if any)"
SPLITS = ("train", "val", "test")


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
    _, data = load_task_section(config, overrides, "data", tasks=("recognition", "mosi"), command="check-data")
    records = {split: list(read_split(data, split)) for split in splits if getattr(data, split) is not None}
    if not records:
        raise ConfigError(f"{config}: no dataset configured under data.{'/'.join(splits)}")
    return records


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: `vidstruct --help` imports every command module (see train.py)
    from vidstruct.cli.output import print_json, progress
    from vidstruct.data.check import iter_check

    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    datasets = load_split_records(args.config, args.overrides, splits)
    mode = "quick" if args.quick else "full"
    summary: dict[str, dict[str, int]] = {}
    bad = []
    for split, records in datasets.items():
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
        print(f"error: {len(bad)} sample(s) failed to decode", file=sys.stderr)
        return 1
    return 0
