"""``vidstruct frames VIDEO (--indices 0,10,20 | --at 0.5,1.25) --out DIR``: save exact frames as PNG."""

from __future__ import annotations

import argparse

from vidstruct.errors import InputError

NAME = "frames"
HELP = "write chosen frames (by index or time) as lossless RGB PNG files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="video file")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--indices", help="comma-separated frame indices, e.g. 0,10,20")
    which.add_argument("--at", help="comma-separated times in seconds from the first frame, e.g. 0.5,1.25")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--json", action="store_true", help="print JSON: one {path, index, time_s} per frame")


def _parse_list(text: str, kind: type, flag: str) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{flag}: expected comma-separated {kind.__name__} values, got {text!r}") from None
    if not values:
        raise InputError(f"{flag}: no values given")
    return values


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.io.png_frames import save_frames

    if args.indices is not None:
        saved = save_frames(args.video, args.out, indices=_parse_list(args.indices, int, "--indices"))
    else:
        saved = save_frames(args.video, args.out, times_s=_parse_list(args.at, float, "--at"))
    if args.json:
        print_json([s.to_dict() for s in saved])
    else:
        for s in saved:
            print(s.path)
    return 0
