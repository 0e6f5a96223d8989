"""``vidstruct eval anet-classification``: ActivityNet untrimmed video classification (mAP, hit@k)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

DESCRIPTION = (
    "anet-classification: ActivityNet untrimmed video classification, equal to the official "
    "Evaluation/eval_classification.py (mAP over classes, hit@k); results: "
    '{"results": {video_id: [{"label", "score"}]}}.'
)


def register(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``anet-classification`` to the ``eval`` subparsers; return its runner."""
    from vidstruct.cli.commands._eval_temporal import _common

    p = sub.add_parser("anet-classification", help="video-level mAP and hit@k (ActivityNet classification)")
    _common(p)
    p.add_argument("--top-k", type=int, default=3, metavar="K", help="k of hit@k (default 3)")
    return {"anet-classification": run}


def run(args: argparse.Namespace) -> int:
    from vidstruct.atomic import write_json_atomic
    from vidstruct.cli.output import print_json
    from vidstruct.errors import InputError
    from vidstruct.eval.temporal import load_blocked, load_ground_truth
    from vidstruct.eval.video_classification import evaluate_video_classification, load_classification_submission

    if math.isnan(args.duration_tolerance) or args.duration_tolerance < 0:
        raise InputError(f"--duration-tolerance must be >= 0 seconds, got {args.duration_tolerance}")
    if args.top_k < 1:
        raise InputError(f"--top-k must be >= 1, got {args.top_k}")
    blocked = load_blocked(args.blocked)
    gt = load_ground_truth(
        args.ground_truth, subset=args.subset, blocked=blocked, duration_tolerance=args.duration_tolerance
    )
    preds = load_classification_submission(args.predictions, blocked=blocked)
    result = evaluate_video_classification(gt, preds, top_k=args.top_k, tie_order=args.tie_order)
    if args.out:
        write_json_atomic(args.out, result)
    if args.json:
        print_json(result)
    else:
        print(
            f"videos: {result['num_videos']}  predictions: {result['num_predictions']}  "
            f"videos without predictions: {result['num_videos_without_predictions']}  "
            f"classes: {len(result['per_class_AP'])}  subset: {args.subset}  tie order: {args.tie_order}"
        )
        print(f"mAP: {100 * result['mAP']:.2f} %")
        print(f"hit@{args.top_k}: {100 * result['hit_at_k']:.2f} %")
        print(f"avg hit@{args.top_k}: {100 * result['avg_hit_at_k']:.2f} %")
    return 0
