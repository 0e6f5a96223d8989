"""``vidstruct eval epic-recognition|epic-detection``: the EPIC-Kitchens-100 challenges' official metrics."""

from __future__ import annotations

import argparse
from collections.abc import Callable

DESCRIPTION = (
    "epic-recognition / epic-detection: EPIC-Kitchens-100 action recognition (the C1 challenge's evaluate.py: "
    "verb / noun / action top-1 and top-5, actions from the verb x noun softmax product; tail classes and unseen "
    "participants) and action detection (the C2 challenge's evaluate_detection_json_ek100.py: mAP at tIoU "
    "0.1:0.1:0.5 for verbs, nouns and 'v,n' actions). Labels: the EPIC-100 CSV or a pickled plain table (a pandas "
    "DataFrame pickle is refused: it would run pandas' code)."
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels", metavar="LABELS.csv|pkl", help="EPIC-100 annotations (e.g. EPIC_100_validation.csv)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--out", metavar="FILE", help="also write the metrics as JSON to FILE (written atomically)")


def register(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``epic-recognition`` and ``epic-detection`` to the ``eval`` subparsers; return their runners."""
    from vidstruct.cli.commands._eval_temporal import TIE_ORDER_HELP

    rec = sub.add_parser("epic-recognition", help="EPIC-100 verb / noun / action accuracy (challenge C1), percent")
    _common(rec)
    rec.add_argument(
        "results",
        metavar="RESULTS.pkl|pt|npz",
        help="{verb_output [N, V], noun_output [N, K], narration_id [N]} or a list of per-segment dicts; "
        ".pkl read with a restricted unpickler, .pt with torch.load(weights_only=True), .npz without pickle",
    )
    rec.add_argument("--tail-verbs", metavar="CSV", help="EPIC_100_tail_verbs.csv (column 'verb')")
    rec.add_argument("--tail-nouns", metavar="CSV", help="EPIC_100_tail_nouns.csv (column 'noun')")
    rec.add_argument(
        "--unseen-participants", metavar="CSV", help="EPIC_100_unseen_participant_ids_*.csv (column 'participant_id')"
    )
    det = sub.add_parser("epic-detection", help="EPIC-100 action detection mAP (challenge C2) for verb, noun, action")
    _common(det)
    det.add_argument("submission", metavar="SUBMISSION.json", help="the C2 submission JSON (version 0.2)")
    det.add_argument("--verb-count", type=int, default=97, metavar="N", help="number of verb classes (default 97)")
    det.add_argument("--noun-count", type=int, default=300, metavar="N", help="number of noun classes (default 300)")
    det.add_argument("--tie-order", choices=["stable", "official"], default="stable", help=TIE_ORDER_HELP)
    return {"epic-recognition": run_recognition, "epic-detection": run_detection}


def _emit(args: argparse.Namespace, result: dict, lines: list[str]) -> None:
    from vidstruct.atomic import write_json_atomic
    from vidstruct.cli.output import print_json

    if args.out:
        write_json_atomic(args.out, result)
    if args.json:
        print_json(result)
    else:
        print("\n".join(lines))


def run_recognition(args: argparse.Namespace) -> int:
    from vidstruct.data.formats.epic_kitchens import read_epic_tail_classes, read_epic_unseen_participants
    from vidstruct.errors import InputError
    from vidstruct.eval.epic import evaluate_epic_recognition, load_epic_labels, load_recognition_results

    if (args.tail_verbs is None) != (args.tail_nouns is None):
        raise InputError("--tail-verbs and --tail-nouns go together (tail actions are those of a tail verb or noun)")
    results = load_recognition_results(args.results)
    # the file's own class ranges; the evaluated segments are checked against the results' class counts
    num_verbs, num_nouns = results.verb_output.shape[1], results.noun_output.shape[1]
    labels = load_epic_labels(args.labels, num_verbs=max(97, num_verbs), num_nouns=max(300, num_nouns))
    result = evaluate_epic_recognition(
        labels,
        results,
        tail_verbs=read_epic_tail_classes(args.tail_verbs, "verb") if args.tail_verbs else None,
        tail_nouns=read_epic_tail_classes(args.tail_nouns, "noun") if args.tail_nouns else None,
        unseen_participants=read_epic_unseen_participants(args.unseen_participants)
        if args.unseen_participants
        else None,
    )
    lines = [
        f"segments: {result['num_segments']}  labels without results (not evaluated): "
        f"{result['num_labels_without_results']}"
    ]
    lines += [f"{k}: {v:.2f}" for k, v in result.items() if not k.startswith("num_")]
    _emit(args, result, lines)
    return 0


def run_detection(args: argparse.Namespace) -> int:
    from vidstruct.errors import InputError
    from vidstruct.eval.epic import evaluate_epic_detection, load_detection_submission, load_epic_labels

    if args.verb_count < 1 or args.noun_count < 1:
        raise InputError(f"--verb-count and --noun-count must be >= 1, got {args.verb_count}, {args.noun_count}")
    labels = load_epic_labels(args.labels, num_verbs=args.verb_count, num_nouns=args.noun_count)
    submission = load_detection_submission(args.submission, num_verbs=args.verb_count, num_nouns=args.noun_count)
    result = evaluate_epic_detection(labels, submission, num_nouns=args.noun_count, tie_order=args.tie_order)
    lines = [
        f"ground-truth segments: {result['verb']['num_ground_truth']}  videos: {result['verb']['num_videos']}  "
        f"detections: {submission.scores.size}  tie order: {args.tie_order}"
    ]
    for task in ("verb", "noun", "action"):
        for i, m in enumerate(result[task]["mAP"], start=1):
            lines.append(f"{task}_map_at_{i:02d}: {100 * m:.2f}")
        lines.append(f"{task}_map_avg: {100 * result[task]['average_mAP']:.2f}")
    lines += [f"{k}: {result[k]}" for k in ("sls_pt", "sls_tl", "sls_td")]
    _emit(args, result, lines)
    return 0
