"""``vidstruct detect-epic --checkpoint RUN --features DIR --out SUBMISSION.json``: EPIC-100 action detection."""

from __future__ import annotations

import argparse

from vidstruct.cli.argtypes import count

NAME = "detect-epic"
HELP = "EPIC-Kitchens-100 action detection: (verb, noun) segments as the C2 challenge's submission JSON"
DESCRIPTION = (
    "Run a proposal localizer (RUN/localizer.pt of a task: localization config with postprocess.fusion: none, "
    "trained on EPIC-100 segments) over the snippet features of each video of DIR (vidstruct extract-features "
    "with the EPIC verb + noun backbone recorded in the localizer), label each proposal with the --top-verbs x "
    "--top-nouns most probable (verb, noun) pairs of the backbone's snippet probabilities averaged inside it "
    "(score = proposal score x p(verb) x p(noun)), and write the C2 submission JSON (version 0.2, challenge "
    "action_detection) for 'vidstruct eval epic-detection'."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="proposal localizer (localizer.pt) or its run directory")
    parser.add_argument("--features", required=True, metavar="DIR", help="feature directory (extract-features)")
    parser.add_argument("--out", required=True, metavar="FILE", help="submission JSON to write (atomically)")
    parser.add_argument(
        "--labels", metavar="CSV", help="detect the videos of this EPIC-100 CSV (column video_id; default: all of DIR)"
    )
    parser.add_argument("--backbone", help="EPIC backbone checkpoint (default: the one recorded in the localizer)")
    parser.add_argument("--force", action="store_true", help="use --backbone even if its sha256 differs")
    parser.add_argument("--top-verbs", type=count, default=5, help="verbs per proposal (default 5)")
    parser.add_argument("--top-nouns", type=count, default=5, help="nouns per proposal (default 5)")
    for key, what in (("pt", "pretraining"), ("tl", "training labels"), ("td", "training data")):
        parser.add_argument(
            f"--sls-{key}", type=int, default=0, choices=range(6), help=f"supervision level, {what} (0-5; default 0)"
        )
    parser.add_argument("--json", action="store_true", help='print {"out", "videos", "entries"} as JSON')


def _video_ids(path: str) -> list[str]:
    """The distinct ``video_id`` values of an EPIC CSV, in first-seen order."""
    import csv

    from vidstruct.errors import InputError

    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if "video_id" not in (reader.fieldnames or []):
                raise InputError(f"{path}: no 'video_id' column (expected an EPIC-100 CSV)")
            return list(dict.fromkeys(row["video_id"] for row in reader))
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.pipeline.epic_detection import EpicDetector, write_epic_submission

    ids = _video_ids(args.labels) if args.labels else None
    detector = EpicDetector.from_checkpoint(
        args.checkpoint, backbone=args.backbone, force=args.force, top_verbs=args.top_verbs, top_nouns=args.top_nouns
    )
    results = write_epic_submission(
        detector, args.features, args.out, video_ids=ids, sls=(args.sls_pt, args.sls_tl, args.sls_td)
    )
    entries = sum(len(v) for v in results.values())
    if args.json:
        print_json({"out": args.out, "videos": len(results), "entries": entries})
    else:
        print(f"{args.out}: {entries} entries for {len(results)} videos")
    return 0
