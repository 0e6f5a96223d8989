"""``vidstruct classify-videos --features DIR --out PRED.json``: untrimmed video classification (ActivityNet)."""

from __future__ import annotations

import argparse

from vidstruct.cli.argtypes import count

NAME = "classify-videos"
HELP = "untrimmed video classification: the backbone's snippet probabilities pooled per video (ActivityNet JSON)"
DESCRIPTION = (
    "Pool the per-snippet class probabilities of each video of a feature directory (vidstruct extract-features "
    "with a classification backbone) into the video's class probabilities (mean, max, or top-k-mean: per class the "
    "mean of its k most confident snippets; renormalized to sum to 1) and write ActivityNet's classification "
    "submission (results: {video_id: [{label, score}]}, best first, naming the backbone's path and SHA-256) for "
    "'vidstruct eval anet-classification'."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", required=True, metavar="DIR", help="feature directory (extract-features)")
    parser.add_argument("--out", required=True, metavar="FILE", help="submission JSON to write (atomically)")
    parser.add_argument(
        "--pool", choices=["mean", "max", "top-k-mean"], default="mean", help="pooling over snippets (default mean)"
    )
    parser.add_argument("--top-k", type=count, default=3, metavar="K", help="k of top-k-mean (default 3)")
    parser.add_argument(
        "--labels",
        metavar="GT.json",
        help="ActivityNet / HACS ground truth: keep only its classes (renormalized) and classify its videos",
    )
    parser.add_argument(
        "--subset", help="with --labels: classify the videos of this subset only (default: every video of the file)"
    )
    parser.add_argument(
        "--max-labels", type=count, metavar="N", help="labels per video (default: every class, as mAP ranks them all)"
    )
    parser.add_argument(
        "--external-data", action="store_true", help="declare external_data.used (backbone trained beyond the set)"
    )
    parser.add_argument("--json", action="store_true", help='print {"out", "videos", "missing", "labels"} as JSON')


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.errors import InputError
    from vidstruct.eval.temporal import load_ground_truth
    from vidstruct.pipeline.video_classification import classify_store, write_classification_submission

    classes = video_ids = None
    if args.labels:
        classes = list(load_ground_truth(args.labels, subset=None).class_names)
        video_ids = list(load_ground_truth(args.labels, subset=args.subset).video_ids)
    elif args.subset:
        raise InputError("--subset needs --labels GT.json (the subsets are those of the ground truth)")
    result = classify_store(
        args.features,
        pool=args.pool,
        top_k=args.top_k,
        classes=classes,
        video_ids=video_ids,
        max_labels=args.max_labels,
    )
    write_classification_submission(args.out, result, external_data=args.external_data)
    labels = len(next(iter(result.results.values())))
    if args.json:
        print_json({"out": args.out, "videos": len(result.results), "missing": result.missing, "labels": labels})
    else:
        print(f"{args.out}: {len(result.results)} videos, {labels} labels each ({result.pool} pooling)")
        if result.missing:
            print(f"no features: {len(result.missing)} videos (first: {result.missing[0]})")
    return 0
