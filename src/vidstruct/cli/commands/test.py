"""``vidstruct test CONFIG --checkpoint CKPT``: multi-view testing of a trained recognition model."""

from __future__ import annotations

import argparse
import os

NAME = "test"
HELP = "evaluate a checkpoint on the config's test (or val) split with multi-view testing"
DESCRIPTION = (
    "Evaluate CKPT (a run directory, its model.pt / final.pt, or a step checkpoint) on data.test (default, else "
    "data.val) with test.temporal_views clips x test.spatial_crops crops per video, averaging softmax "
    "probabilities over the views. Prints top-1 / top-5 / mean class accuracy and the per-class report; "
    "--out writes metrics.json, per_class.csv, probs.npy, confusion.npy and confusion.png. An EPIC-Kitchens-100 "
    "model (model.head.name: epic_verb_noun) reports verb / noun / action top-1 / top-5 (action = verb x noun) and "
    "--out also writes the C1 challenge's results.pkl, submission.json and submission.zip. "
    "A 'task: detection' config tests an action detector (RUN/detector.pt) on data.val's keyframes (--split train: "
    "data.train) with ground-truth person boxes (--boxes gt, as training validates) or a person detector's "
    "(--boxes detected --person-detector RUN): --out writes detections.csv (AVA rows, every box x every class, "
    "normalized boxes, sigmoid probabilities) and metrics.json (frame-mAP@0.5 as 'vidstruct eval ava' computes it, "
    "per-class AP); a video that cannot be decoded is reported and skipped (excluded from the evaluation)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML experiment config (model and data sections)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. test.temporal_views=10")
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    parser.add_argument("--split", choices=["train", "val", "test"], help="split to evaluate (default: test, else val)")
    parser.add_argument("--out", help="directory for metrics.json, per_class.csv, confusion.png ...")
    parser.add_argument(
        "--device", help="auto, cpu, cuda, cuda:N, gpu (= cuda), mps (shorthand for the override train.device=...)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (metrics, per_class, confusion, ...)")
    parser.add_argument(
        "--boxes", choices=["gt", "detected"], help="task: detection: person boxes to score (default gt)"
    )
    parser.add_argument("--person-detector", help="task: detection, --boxes detected: a person-detector run / file")
    parser.add_argument(
        "--person-min-score", type=float, help="task: detection: person score a detected box needs (default 0.5)"
    )


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: `vidstruct --help` imports every command module (see train.py)
    from vidstruct.cli.output import print_json
    from vidstruct.config import load_task_config
    from vidstruct.device import resolve_device
    from vidstruct.eval.classification import format_report
    from vidstruct.recipes.recognition import run_test

    overrides = list(args.overrides)
    if args.device is not None:
        resolve_device(args.device, where="--device")
        overrides.append(f"train.device={args.device}")
    task = load_task_config(args.config, overrides, tasks=("recognition", "detection"), command="test")
    if task.task == "detection":  # spatio-temporal action detection: frame-mAP@0.5 over the split's keyframes
        from vidstruct.recipes.detection_test import print_detection_test, run_detection_test

        report = run_detection_test(
            task.cfg, args.checkpoint, split=args.split, boxes=args.boxes or "gt",
            person_detector=args.person_detector, person_min_score=args.person_min_score, out_dir=args.out,
        )  # fmt: skip
        print_json(report) if args.json else print_detection_test(report)
        return 0
    if args.boxes or args.person_detector or args.person_min_score is not None:
        from vidstruct.errors import ConfigError

        raise ConfigError("--boxes / --person-detector / --person-min-score: only for a task: detection config")
    report = run_test(
        task.cfg,
        args.checkpoint,
        composed=task.composed,
        split=args.split,
        out_dir=args.out,
        quiet=args.quiet or args.json,
    )
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    if args.json:
        print_json(report)
        return 0
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in report["metrics"].items()) or "no labelled videos"
    print(
        f"{report['split']}: {report['evaluated']} of {report['num_videos']} videos, {report['views']} view(s) each; "
        f"{metrics}"
    )
    if report["per_class"]:
        print(format_report(report["per_class"]))
    if args.out and "files" in report:  # an EPIC model: the challenge's files
        print(f"wrote {args.out}/metrics.json, probs.npz, " + ", ".join(report["files"].values()))
    elif args.out:
        print(f"wrote {args.out}/metrics.json, per_class.csv, probs.npy, confusion.png")
    return 0
