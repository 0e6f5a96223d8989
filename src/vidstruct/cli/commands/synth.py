"""``vidstruct synth``: write synthetic action videos (real H.264 mp4) and their ground truth."""

from __future__ import annotations

import argparse

NAME = "synth"
HELP = "generate synthetic action videos with exact ground truth (classify | localize | detect | epic)"
DESCRIPTION = (
    "Write synthetic H.264 videos whose actions are recognizable only from motion, plus their ground truth: "
    "Kinetics-style lists (classify), ActivityNet-style JSON (localize), AVA-style CSV (detect) or EPIC-Kitchens-100 "
    "CSVs with verb (motion) and noun (object) segments of untrimmed videos (epic)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tasks = ["classify", "localize", "detect", "epic"]
    parser.add_argument("--task", required=True, choices=tasks, help="what to generate")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--num-videos", type=int, required=True, help="number of videos")
    parser.add_argument("--seed", type=int, default=0, help="random seed (video k depends only on seed and k)")
    parser.add_argument("--size", type=int, default=128, help="frame width and height in pixels (even)")
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per video")
    parser.add_argument("--no-antialias", action="store_true", help="draw hard actor edges")
    parser.add_argument("--json", action="store_true", help="print a JSON summary of what was written")


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json, progress
    from vidstruct.data.synth import generate, validate_options

    if args.task != "epic":  # write_epic validates its own options
        validate_options(args.task, args.num_videos, args.seed, args.size, args.fps, args.duration)
    summary = generate(
        args.task,
        args.out,
        args.num_videos,
        seed=args.seed,
        size=args.size,
        fps=args.fps,
        duration=args.duration,
        antialias=not args.no_antialias,
        progress=lambda items: progress(
            items, total=args.num_videos, description=f"synth {args.task}", quiet=args.quiet or args.json
        ),
    )
    if args.json:
        print_json(summary.to_dict())
    else:
        files = ", ".join(str(p) for p in summary.annotation_files.values())
        print(f"wrote {len(summary.videos)} {args.task} videos to {summary.out_dir}; ground truth: {files}")
    return 0
