"""``vidstruct eval anet-proposal|anet-detection``: ActivityNet-protocol temporal localization metrics."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

DESCRIPTION = (
    "anet-proposal / anet-detection: the ActivityNet protocol (the official Evaluation/eval_proposal.py and "
    "eval_detection.py; equal scores are ranked by --tie-order). Ground truth: ActivityNet-1.3 / HACS JSON "
    "(database -> video -> subset, duration, annotations[{segment, label}]); results: "
    '{"version", "results": {video_id: [{"label", "score", "segment"}]}, "external_data"}.'
)
TIE_ORDER_HELP = (
    "how equal scores are ranked: 'stable' (default) = descending score, equal scores in file order (the first "
    "listed first; of ground-truth segments with equal tIoU the first listed is matched); 'official' = as the "
    "official scripts: per class (detection) or per video (proposals), numpy's default argsort of the scores in "
    "file order, reversed (equal tIoUs likewise) - equal to their numbers with the same numpy on the same CPU"
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("ground_truth", metavar="GT.json", help="ActivityNet-style ground truth")
    p.add_argument("predictions", metavar="PRED.json", help="submission JSON")
    p.add_argument("--subset", default="validation", help="ground-truth subset to evaluate (default: validation)")
    p.add_argument("--blocked", metavar="FILE", help="video ids to leave out (JSON list or one id per line)")
    p.add_argument(
        "--duration-tolerance",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="ground-truth segments may exceed [0, duration] by this much (default 1; 'inf' disables the check)",
    )
    p.add_argument("--tie-order", choices=["stable", "official"], default="stable", help=TIE_ORDER_HELP)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--out", metavar="FILE", help="also write the metrics as JSON to FILE (written atomically)")


def register(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``anet-proposal`` and ``anet-detection`` to the ``eval`` subparsers; return their runners."""
    prop = sub.add_parser("anet-proposal", help="average recall vs. average number of proposals (AR@AN), AUC")
    _common(prop)
    prop.add_argument(
        "--max-avg-nr-proposals", type=float, default=100, metavar="N", help="largest AN of the curve (default 100)"
    )
    det = sub.add_parser("anet-detection", help="interpolated mAP per tIoU and average mAP")
    _common(det)
    which = det.add_mutually_exclusive_group()
    which.add_argument("--tiou", metavar="T1,T2,...", help="comma-separated tIoU thresholds, e.g. 0.5,0.75,0.95")
    which.add_argument(
        "--protocol",
        choices=["anet", "thumos", "epic"],
        default="anet",
        help="threshold set: anet 0.5:0.05:0.95 (default), thumos 0.3:0.1:0.7, epic 0.1:0.1:0.5",
    )
    det.add_argument(
        "--ignore-unknown-labels",
        action="store_true",
        help="drop predictions whose label is no ground-truth class (default: error, like the official toolkit)",
    )
    return {"anet-proposal": run, "anet-detection": run}


def _thresholds(args: argparse.Namespace) -> object:
    from vidstruct.errors import InputError
    from vidstruct.eval.temporal import protocol_thresholds

    if args.tiou:
        try:
            return [float(t) for t in args.tiou.split(",") if t.strip()]
        except ValueError:
            raise InputError(f"--tiou: expected comma-separated numbers, got {args.tiou!r}") from None
    return protocol_thresholds(args.protocol)


def run(args: argparse.Namespace) -> int:
    from vidstruct.atomic import write_json_atomic
    from vidstruct.cli.output import print_json
    from vidstruct.errors import InputError
    from vidstruct.eval.temporal import (
        evaluate_detection,
        evaluate_proposals,
        load_blocked,
        load_ground_truth,
        load_submission,
    )

    if math.isnan(args.duration_tolerance) or args.duration_tolerance < 0:
        raise InputError(f"--duration-tolerance must be >= 0 seconds, got {args.duration_tolerance}")
    blocked = load_blocked(args.blocked)
    gt = load_ground_truth(
        args.ground_truth, subset=args.subset, blocked=blocked, duration_tolerance=args.duration_tolerance
    )
    if args.eval_action == "anet-proposal":
        if not args.max_avg_nr_proposals > 0:
            raise InputError(f"--max-avg-nr-proposals must be > 0, got {args.max_avg_nr_proposals}")
        preds = load_submission(args.predictions, require_label=False, blocked=blocked)
        result = evaluate_proposals(
            gt, preds, max_avg_nr_proposals=args.max_avg_nr_proposals, tie_order=args.tie_order
        ).to_dict()
    else:
        preds = load_submission(args.predictions, require_label=True, blocked=blocked)
        result = evaluate_detection(
            gt,
            preds,
            tiou_thresholds=_thresholds(args),
            unknown_labels="ignore" if args.ignore_unknown_labels else "error",
            tie_order=args.tie_order,
        ).to_dict()
    if args.out:
        write_json_atomic(args.out, result)
    if args.json:
        print_json(result)
    elif args.eval_action == "anet-proposal":
        print(
            f"videos: {result['num_videos']}  ground truth: {result['num_ground_truth']}  "
            f"proposals: {result['num_proposals']}  subset: {args.subset}  tie order: {args.tie_order}"
        )
        print(f"AUC: {result['AUC']:.2f} %")
        for key, value in result.items():
            if key.startswith("AR@"):
                print(f"{key}: {100 * value:.2f} %")
    else:
        print(
            f"videos: {result['num_videos']}  ground truth: {result['num_ground_truth']}  "
            f"predictions: {result['num_predictions']}  classes: {len(result['per_class_AP'])}  subset: {args.subset}"
            f"  tie order: {args.tie_order}"
        )
        print("tIoU   mAP (%)")
        for t, m in zip(result["tiou"], result["mAP"]):
            print(f"{t:<6g} {100 * m:.2f}")
        print(f"average mAP: {100 * result['average_mAP']:.2f} %")
    return 0
