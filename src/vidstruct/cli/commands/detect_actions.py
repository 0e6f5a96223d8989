"""``vidstruct detect-actions VIDEO --checkpoint RUN (--proposals FILE | --detector ...)``: who does what, where."""

from __future__ import annotations

import argparse

NAME = "detect-actions"
HELP = "spatio-temporal action detection: person boxes with track ids and action probabilities per keyframe"
DESCRIPTION = (
    "Run an action detector (RUN/detector.pt from 'vidstruct train' on a task: detection config) on one video. "
    "Keyframes every --every-s seconds from 0; person boxes from a proposals file (AVA-style CSV with a score "
    "column, or the pickle; the video's id is its file stem) or a person detector (a vidstruct person-detector "
    "checkpoint, or a torchvision detection model name with --detector-weights). Each actor gets a track id "
    "(greedy IoU matching across keyframes) and the actions whose sigmoid probability is at least --min-prob. "
    "Boxes are [x1, y1, x2, y2] normalized to [0, 1]. --csv writes an AVA submission (every actor x every class), "
    "--render a preview mp4 with boxes and top labels. A relation-head detector can also attend to object boxes: "
    "--objects FILE (the format training's data.objects reads: AVA-style CSV video_id,time_s,x1,y1,x2,y2,"
    "action_id,score without a header, action_id may be empty, boxes normalized; or the pickle) or "
    "--object-detector NAME --object-detector-weights FILE (a torchvision detector's non-person classes)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file")
    parser.add_argument("--checkpoint", required=True, help="action detector checkpoint (detector.pt) or its run dir")
    parser.add_argument("--proposals", help="person boxes: AVA-style CSV with scores, or the proposals pickle")
    parser.add_argument(
        "--detector", help="person boxes: a person-detector checkpoint / run dir, or a torchvision detector name"
    )
    parser.add_argument("--detector-weights", help="local weights of the torchvision --detector (nothing downloads)")
    parser.add_argument("--person-min-score", type=float, default=0.5, help="person score a box needs (default 0.5)")
    parser.add_argument(
        "--objects", help="object boxes per keyframe (data.objects format: video_id,time_s,x1,y1,x2,y2,action_id,score)"
    )
    parser.add_argument("--object-detector", help="object boxes: a torchvision detection model name (not person)")
    parser.add_argument("--object-detector-weights", help="local weights of --object-detector (nothing downloads)")
    parser.add_argument("--object-min-score", type=float, default=0.5, help="object score a box needs (default 0.5)")
    parser.add_argument("--every-s", type=float, default=1.0, help="seconds between keyframes (default 1)")
    parser.add_argument("--min-prob", type=float, default=0.5, help="report actions at least this probable (0-1)")
    parser.add_argument("--csv", help="write the AVA submission CSV here")
    parser.add_argument("--render", help="write a preview mp4 (boxes, track ids, top labels) here")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: auto)")
    parser.add_argument("--batch-size", type=int, default=8, help="keyframe clips per forward pass")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document")


def run(args: argparse.Namespace) -> int:
    from vidstruct.atomic import write_text_atomic
    from vidstruct.cli.output import print_json
    from vidstruct.device import resolve_device
    from vidstruct.errors import InputError
    from vidstruct.models.detection import load_detector
    from vidstruct.pipeline.detection import detect_actions
    from vidstruct.pipeline.detection.objects import object_box_source
    from vidstruct.pipeline.persons import person_box_source

    if not 0.0 <= args.min_prob <= 1.0:
        raise InputError(f"--min-prob: expected a probability in [0, 1], got {args.min_prob}")
    if not args.every_s > 0:
        raise InputError(f"--every-s: expected a positive number of seconds, got {args.every_s}")
    if args.batch_size < 1:
        raise InputError(f"--batch-size: expected a positive count, got {args.batch_size}")
    device = resolve_device(args.device, where="--device")
    bundle = load_detector(args.checkpoint, device=device)
    persons = person_box_source(
        proposals=args.proposals, detector=args.detector, detector_weights=args.detector_weights,
        min_score=args.person_min_score, device=str(device),
    )  # fmt: skip
    if (args.objects or args.object_detector) and bundle.builder.get("head") != "relation":
        raise InputError(
            f"--objects / --object-detector: {args.checkpoint} has a {bundle.builder.get('head')!r} head, which has "
            "no object tokens (only the relation head attends to objects)"
        )
    objects = object_box_source(
        args.objects, args.object_detector, args.object_detector_weights, min_score=args.object_min_score,
        device=str(device),
    )  # fmt: skip
    result = detect_actions(
        args.video, bundle, persons, every_s=args.every_s, device=device, batch_size=args.batch_size, objects=objects
    )
    files = {}
    if args.csv:
        write_text_atomic(args.csv, "".join(row + "\n" for row in result.ava_rows()))
        files["csv"] = args.csv
    if args.render:
        from vidstruct.pipeline.detection.render import render_detections

        render_detections(result, args.render, min_prob=args.min_prob)
        files["render"] = args.render
    if args.json:
        print_json({**result.to_dict(args.min_prob), "files": files})
        return 0
    doc = result.to_dict(args.min_prob)
    actors = sum(len(kf["actors"]) for kf in doc["keyframes"])
    print(
        f"{args.video}: {doc['duration_s']:.2f} s, {len(doc['keyframes'])} keyframes, {actors} actor boxes "
        f"(model {doc['model']['name']}, persons from {doc['persons']}"
        + (f", objects from {doc['objects']})" if "objects" in doc else ")")
    )
    for kf in doc["keyframes"]:
        for a in kf["actors"]:
            acts = ", ".join(f"{x['label']} {x['prob']:.2f}" for x in a["actions"]) or "-"
            print(f"{kf['time_s']:8.2f}s  #{a['track_id']:<3d} {a['box']}  {acts}")
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0
