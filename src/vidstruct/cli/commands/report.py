"""``vidstruct report STRUCTURE.json [--out report.html] [--video VIDEO] [--json]``: the HTML report of one analysis."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "write the self-contained HTML report (player, timeline, segment table) of a structure.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("structure", help="structure.json written by 'vidstruct analyze', or its folder")
    parser.add_argument("--out", help="report file or folder (default: report.html beside structure.json)")
    parser.add_argument("--video", help="the video file to play (default: the path the document names)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.structure.report import write_report

    out = write_report(args.structure, args.out, video_path=args.video)
    if args.json:
        print_json({"out": str(out)})
    else:
        print(f"wrote {out}")
    return 0
