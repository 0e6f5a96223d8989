"""``vidstruct export-structure STRUCTURE --format FORMAT --out PATH``: a structure document in another tool's format.

Formats and the files each writes (companions beside ``PATH`` as ``<stem>.<role>.<ext>``):
``webvtt`` (chapters track + ``<stem>.segments.vtt`` metadata track), ``csv`` (one row per shot,
segment, window, actor), ``activitynet`` (submission JSON), ``ava`` (actors CSV +
``<stem>.label_map.pbtxt``), ``otio`` (OpenTimelineIO timeline with markers), ``labelstudio``
(tasks JSON with timeline predictions + ``<stem>.labeling.xml``). See :mod:`vidstruct.structure.exports`.
"""

from __future__ import annotations

import argparse

NAME = "export-structure"
HELP = "export a structure.json (vidstruct analyze) as WebVTT, CSV, ActivityNet, AVA, OpenTimelineIO or Label Studio"
DESCRIPTION = (
    "Export a structure.json written by 'vidstruct analyze'. Companion files are written beside --out PATH as "
    "<stem>.<role>.<ext>: webvtt: PATH is the chapters track (one cue per shot), <stem>.segments.vtt the metadata "
    "track (one JSON cue per segment); csv: one row per shot, segment, window and actor; activitynet: submission "
    "JSON of the segments; ava: actors CSV + <stem>.label_map.pbtxt; otio: OpenTimelineIO timeline with shot and "
    "segment markers; labelstudio: tasks JSON with timeline predictions + <stem>.labeling.xml (the labeling config)."
)

# kept here (not imported from vidstruct.structure.exports) so that --help stays fast; a test checks they agree
FORMATS = ("webvtt", "csv", "activitynet", "ava", "otio", "labelstudio")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("structure", help="structure.json, or the folder holding it")
    parser.add_argument("--format", required=True, choices=FORMATS, help="output format")
    parser.add_argument("--out", required=True, help="output file (companion files are written beside it)")
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.structure.exports import export_structure
    from vidstruct.structure.files import read_structure

    structure = read_structure(args.structure)
    written = export_structure(structure, args.format, args.out)
    if args.json:
        print_json({"format": args.format, "structure": str(structure.path), "files": [str(p) for p in written]})
    else:
        print(f"wrote {', '.join(str(p) for p in written)} ({args.format})")
    return 0
