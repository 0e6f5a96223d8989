"""``vidstruct reel STRUCTURE.json|VIDEO_ID --label L [--min-score S] [--max-s N] --out reel.mp4``: a highlight reel.

The chosen segments cut from the source video into one MP4 in time order, with ``<stem>.chapters.vtt`` (one
WebVTT chapter per part, titled by its label) beside it. See :mod:`vidstruct.pipeline.reels`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "reel"
HELP = "cut the segments of one label into a highlight reel (MP4) with a WebVTT chapters track"
DESCRIPTION = (
    "Cut a highlight reel from a structure.json written by 'vidstruct analyze' (or a VIDEO_ID of the service's "
    "database, --data-dir / --db): the segments of --label with a score >= --min-score; with --max-s, the "
    "best-scoring ones first while the reel stays within that many seconds; then in time order, overlapping "
    "segments merged. Packets are stream-copied when every cut falls on a keyframe, otherwise the reel is "
    "re-encoded with H.264 (video only). Writes --out and <stem>.chapters.vtt beside it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vidstruct.service.settings import add_store_arguments

    parser.add_argument(
        "source", metavar="STRUCTURE.json|VIDEO_ID", help="structure.json (or its folder), or a video id"
    )
    parser.add_argument("--label", required=True, help="the segments' label")
    parser.add_argument("--min-score", type=float, default=0.0, metavar="S", help="lowest segment score (default 0)")
    parser.add_argument("--max-s", type=float, default=None, metavar="N", help="longest reel in seconds (default: all)")
    parser.add_argument("--out", required=True, metavar="REEL.mp4", help="the reel (MP4)")
    parser.add_argument("--video", default=None, help="the source video (default: the one the document names)")
    parser.add_argument("--json", action="store_true", help="print the reel's parts as JSON")
    add_store_arguments(parser)


def _from_database(args: argparse.Namespace) -> tuple[object, Path]:
    from sqlalchemy.exc import SQLAlchemyError

    from vidstruct.pipeline.reels import ReelError
    from vidstruct.service.db.session import make_engine, session_factory
    from vidstruct.service.reels.source import reel_source
    from vidstruct.service.settings import SQLITE_FILE, store_settings

    settings = store_settings(args)
    if settings.db_url is None and not (settings.data_dir / SQLITE_FILE).is_file():
        raise ReelError(
            f"{args.source!r} is not a structure file, and there is no service database under {settings.data_dir} "
            "to look it up as a video id (--data-dir / --db)"
        )
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            found = reel_source(session, settings.data_dir, args.source)
    except SQLAlchemyError as exc:
        raise ReelError(
            f"cannot read the service's database ({type(exc).__name__}); run 'vidstruct db upgrade'"
        ) from None
    finally:
        engine.dispose()
    return found.structure, found.video


def run(args: argparse.Namespace) -> int:
    from vidstruct.cli.output import print_json
    from vidstruct.pipeline.reels import make_reel
    from vidstruct.structure.files import read_structure

    given = Path(args.source)
    if given.exists() or given.suffix == ".json":
        structure, video = read_structure(given), args.video
    else:
        structure, video = _from_database(args)
        video = args.video or video
    reel = make_reel(
        structure,  # type: ignore[arg-type]
        args.out,
        label=args.label,
        min_score=args.min_score,
        max_s=args.max_s,
        video=video,
    )
    if args.json:
        print_json(reel.to_json())
    else:
        plan = reel.plan
        print(
            f"wrote {reel.path} ({len(plan.parts)} parts, {plan.duration_s:.3f} s, {plan.num_frames} frames, "
            f"{plan.mode}: {plan.reason}) and {reel.chapters}"
        )
    return 0
