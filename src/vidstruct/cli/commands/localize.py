"""``vidstruct localize VIDEO --checkpoint CKPT``: scored action segments of an untrimmed video."""

from __future__ import annotations

import argparse

NAME = "localize"
HELP = "temporal action localization: scored (label, start_s, end_s) segments of an untrimmed video"
DESCRIPTION = (
    "Run a trained localizer (RUN/localizer.pt from 'vidstruct train' on a task: localization config) on one "
    "video: snippet features from its recognition backbone (by default the checkpoint recorded in the "
    "localizer; its sha256 must match unless --force), then the localizer's proposals, Soft-NMS and class "
    "fusion. Scores are probabilities in [0, 1]; segments are printed best first."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file")
    parser.add_argument("--checkpoint", required=True, help="localizer checkpoint (localizer.pt) or its run directory")
    parser.add_argument("--backbone", help="recognition backbone checkpoint (default: the one recorded in CKPT)")
    parser.add_argument("--force", action="store_true", help="use --backbone even if its sha256 differs")
    parser.add_argument("--top-k", type=int, default=20, help="segments to report, best first (0 = all; default 20)")
    parser.add_argument("--min-score", type=float, default=0.0, help="drop segments scoring below this (0-1)")
    parser.add_argument("--timeline", help="write a timeline PNG of the reported segments here")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: auto)")
    parser.add_argument("--json", action="store_true", help='print {"video", "duration_s", "segments": [...]}')


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.errors import InputError
    from vidstruct.pipeline.localizer import Localizer
    from vidstruct.pipeline.segment_timeline import plot_segment_timeline

    if args.top_k < 0:
        raise InputError(f"--top-k must be >= 0, got {args.top_k}")
    if not 0.0 <= args.min_score <= 1.0:
        raise InputError(f"--min-score must be in [0, 1], got {args.min_score}")
    localizer = Localizer.from_checkpoint(args.checkpoint, backbone=args.backbone, device=args.device, force=args.force)
    result = localizer.localize(args.video, top_k=args.top_k, min_score=args.min_score)
    if args.timeline:
        plot_segment_timeline(
            args.timeline, result.segments, result.duration_s, classes=localizer.classes,
            title=f"{args.video}: detected segments",
        )  # fmt: skip
    if args.json:
        payload = result.to_dict()
        if args.timeline:
            payload["timeline"] = args.timeline
        print_json(payload)
        return 0
    print(f"{args.video}: {result.duration_s:.2f} s, {len(result.segments)} segments")
    if result.segments:
        width = max(5, *(len(s.label) for s in result.segments))
        print(f"{'label':{width}s}  {'start_s':>8s}  {'end_s':>8s}  {'score':>6s}")
        for s in result.segments:
            print(f"{s.label:{width}s}  {s.start_s:8.2f}  {s.end_s:8.2f}  {s.score:6.4f}")
    if args.timeline:
        print(f"timeline: {args.timeline}")
    return 0
