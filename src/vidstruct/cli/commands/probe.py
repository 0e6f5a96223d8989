"""``vidstruct probe VIDEO [--json] [--exact]``: duration, frame rate, frame count, size, codec."""

from __future__ import annotations

import argparse

NAME = "probe"
HELP = "describe a video file: duration, fps, frame count, size, rotation, codec, audio"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--exact", action="store_true", help="count frames exactly by demuxing every packet")


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.io import probe

    info = probe(args.video, exact=args.exact)
    data = info.to_dict()
    if args.json:
        print_json(data)
        return 0
    if not info.num_frames_exact:
        data["num_frames"] = f"~{info.num_frames} (estimated from duration x fps; --exact counts)"
    width = max(len(key) for key in data)
    for key, value in data.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        print(f"{key:<{width}}  {value}")
    return 0
