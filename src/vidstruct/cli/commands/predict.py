"""``vidstruct predict VIDEO --checkpoint CKPT``: class probabilities of a video."""

from __future__ import annotations

import argparse

NAME = "predict"
HELP = "class probabilities (softmax) of a trimmed video, or per sliding window of a long one"
DESCRIPTION = (
    "Predict class probabilities with a trained model (a run directory or its model.pt). A trimmed video gets "
    "one ranking averaged over --views clips; with --window-s / --stride-s (or --timeline) a long video gets a "
    "ranking per window and a timeline PNG. Probabilities are softmax outputs and sum to 1 over all classes. An "
    "EPIC-Kitchens-100 model (verb + noun heads) gives verb, noun and action probabilities of a trimmed video "
    "(action = p(verb) * p(noun))."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file")
    parser.add_argument("--checkpoint", required=True, help="run directory or model checkpoint (model.pt)")
    parser.add_argument("--top-k", type=int, default=5, help="classes to list per prediction (0 = all)")
    parser.add_argument("--views", type=int, default=1, help="temporal clips averaged for a trimmed video")
    parser.add_argument("--crops", type=int, choices=[1, 3], default=1, help="spatial crops per clip")
    parser.add_argument("--window-s", type=float, help="sliding-window length in seconds (long videos)")
    parser.add_argument("--stride-s", type=float, help="sliding-window stride in seconds (default: window/2)")
    parser.add_argument("--timeline", help="write a timeline PNG of the window probabilities here")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: auto)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.errors import InputError
    from vidstruct.pipeline.recognizer import EpicPrediction, Recognizer, window_matrix
    from vidstruct.pipeline.timeline import plot_window_timeline

    for flag in ("window_s", "stride_s"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise InputError(f"--{flag.replace('_', '-')} must be > 0 seconds, got {value}")
    if args.views < 1:
        raise InputError(f"--views must be >= 1, got {args.views}")
    recognizer = Recognizer.from_checkpoint(args.checkpoint, device=args.device)
    windowed = args.window_s is not None or args.stride_s is not None or args.timeline is not None
    if not windowed:
        pred = recognizer.predict_video(args.video, views=args.views, crops=args.crops, top_k=args.top_k)
        if isinstance(pred, EpicPrediction):
            _print_epic(args, pred)
            return 0
        if args.json:
            print_json({"video": args.video, "predictions": pred.to_list()})
        else:
            for label, prob in zip(pred.labels, pred.probs):
                print(f"{prob:7.4f}  {label}")
        return 0
    windows = recognizer.predict_windows(args.video, window_s=args.window_s, stride_s=args.stride_s, top_k=args.top_k)
    if args.timeline:
        full = recognizer.predict_windows(args.video, window_s=args.window_s, stride_s=args.stride_s, top_k=0) \
            if args.top_k > 0 else windows  # fmt: skip
        plot_window_timeline(
            args.timeline,
            [w.start_s for w in full],
            [w.end_s for w in full],
            window_matrix(full, recognizer.classes),
            recognizer.classes,
            title=f"{args.video}: per-window probabilities",
        )
    if args.json:
        payload = {"video": args.video, "windows": [w.to_dict() for w in windows]}
        if args.timeline:
            payload["timeline"] = args.timeline
        print_json(payload)
    else:
        for w in windows:
            best = ", ".join(f"{label} {prob:.2f}" for label, prob in zip(w.prediction.labels[:3], w.prediction.probs))
            print(f"{w.start_s:8.2f}-{w.end_s:8.2f} s  {best}")
        if args.timeline:
            print(f"timeline: {args.timeline}")
    return 0


def _print_epic(args: argparse.Namespace, pred: object) -> None:
    """Verb, noun and action probabilities of an EPIC model's prediction (JSON or three short tables)."""
    from vidstruct.cli.output import print_json

    doc = {"video": args.video, "checkpoint": str(args.checkpoint), **pred.to_dict()}  # type: ignore[attr-defined]
    if args.json:
        print_json(doc)
        return
    for head in ("verb", "noun"):
        print(f"{head}:")
        for row in doc[head]:
            print(f"  {row['prob']:7.4f}  {row['label']}")
    print("action (p(verb) * p(noun)):")
    for row in doc["action"]:
        print(f"  {row['prob']:7.4f}  {row['verb']} {row['noun']}")
