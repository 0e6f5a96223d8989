"""``vidstruct eval ava``: AVA / AVA-Kinetics frame-mAP@0.5 as ActivityNet's official ``get_ava_performance.py``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

DESCRIPTION = (
    "ava: AVA / AVA-Kinetics frame-mAP@0.5 (the official get_ava_performance.py protocol: at most 50 detections "
    "per keyframe, detections of classes outside the label map ignored, detections on keyframes without ground "
    "truth count as false positives, equal scores ranked by --tie-order). Files: AVA CSVs "
    "video_id,timestamp,x1,y1,x2,y2,action_id,person_id (ground truth) / ...,action_id,score (detections), a pbtxt "
    "label map, an optional excluded-timestamps CSV."
)


def register(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``ava`` to the ``eval`` subparsers; return its runner."""
    p = sub.add_parser("ava", help="AVA / AVA-Kinetics frame-mAP@0.5 (official protocol)")
    p.add_argument("ground_truth", metavar="GT.csv", help="ground-truth CSV (e.g. ava_val_v2.2.csv)")
    p.add_argument("detections", metavar="DET.csv", help="detections CSV: video_id,timestamp,x1,y1,x2,y2,action,score")
    p.add_argument(
        "--labelmap", required=True, metavar="LABELMAP.pbtxt", help="classes to evaluate (e.g. the 60-class file)"
    )
    p.add_argument("--exclusions", metavar="EXCL.csv", help="video_id,timestamp keyframes left out of both files")
    p.add_argument(
        "--tie-order",
        choices=["official", "stable"],
        default="official",
        help="how equal scores of a class are ranked: 'official' (default) = as get_ava_performance.py, numpy's "
        "default argsort reversed over the class's scores (keyframes in order of their first detection row): equal "
        "to its numbers with the same numpy on the same CPU; 'stable' = equal scores in that order, first listed "
        "first, the same on every machine. The 50-per-keyframe cap and matching follow the official rules with both",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--out", metavar="FILE", help="also write the metrics as JSON to FILE (written atomically)")
    return {"ava": run}


def run(args: argparse.Namespace) -> int:
    from vidstruct.atomic import write_json_atomic
    from vidstruct.cli.output import print_json
    from vidstruct.eval.spatiotemporal import evaluate_ava_files

    result = evaluate_ava_files(
        args.ground_truth, args.detections, args.labelmap, args.exclusions, tie_order=args.tie_order
    ).to_dict()
    if args.out:
        write_json_atomic(args.out, result)
    if args.json:
        print_json(result)
        return 0
    print(
        f"keyframes: {result['num_keyframes']}  ground truth: {result['num_ground_truth']}  detections: "
        f"{result['num_detections']} (over the 50 cap: {result['num_detections_over_cap']}, outside the label map: "
        f"{result['num_detections_ignored']})  tie order: {result['tie_order']}"
    )
    width = max((len(name) for name in result["per_class_AP"]), default=5)
    for name, ap in result["per_class_AP"].items():
        print(f"{name:<{width}}  {100 * ap:6.2f} %")
    if result["classes_without_ground_truth"]:
        print(f"no ground truth (left out of the mean): {', '.join(result['classes_without_ground_truth'])}")
    print(f"frame-mAP@0.5: {100 * result['mAP']:.2f} %")
    return 0
