"""``vidstruct demo --out DIR``: the main job end to end on an embedded default."""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = (
    "run the end-to-end demo (synthesize data, train, evaluate, localize actions, detect actors and their actions, "
    "write profile.yaml and run analyze with it on a held-out video)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="demo_out",
        help="output directory (default: demo_out/); it must be new, empty or an earlier demo's: the demo deletes "
        "only folders it created",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--budget-s",
        type=float,
        default=180.0,
        help="recognition training budget in seconds (the localization BMN trains for a third of it)",
    )
    parser.add_argument(
        "--no-localization",
        dest="localization",
        action="store_false",
        help="skip the temporal action localization step (synthetic untrimmed set, features, BMN, localize)",
    )
    parser.add_argument(
        "--no-detection",
        dest="detection",
        action="store_false",
        help="skip the spatio-temporal action detection step (synthetic multi-actor set, person detector, action "
        "detector, detect-actions; the profile then has no actors)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every step at test size (40 small clips, a few training steps): checks the whole chain in well under "
        "a minute; the numbers mean nothing",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: `vidstruct --help` imports every command module (see train.py)
    from vidstruct.cli.output import print_json
    from vidstruct.recipes.demo import run_demo

    summary = run_demo(
        args.out,
        seed=args.seed,
        budget_s=args.budget_s,
        quiet=args.quiet or args.json,
        localization=args.localization,
        detection=args.detection,
        quick=args.quick,
    )
    if args.json:
        print_json(summary)
    return 0
