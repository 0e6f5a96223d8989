"""``vidstruct index DIR|LIST... (--data-dir DIR | --db URL | --server URL) [--profile P] [--workers N]
[--ray [--ray-address ADDR]]``: analyse a video collection into the service's database.

Exit codes: 0 every video indexed (or already indexed), 1 some videos failed (each listed on stderr with its
reason), 2 usage errors (an unmigrated database, an unknown profile, Ray not installed or not answering, a server
that refuses the key).
"""

from __future__ import annotations

import argparse
from typing import Any

from vidstruct.cli.argtypes import count, positive

NAME = "index"
HELP = "analyse a video collection into the service's database (directly, or through its HTTP API)"
DESCRIPTION = (
    "Index videos (files, folders, lists) into the database the service uses: each video is analysed with the "
    "profile and its results stored exactly as a finished service job stores them (video, job row tagged "
    "--job-tag, analysis, segments, embeddings into the similar-moments index, moderation check, thumbnails in "
    "the data folder), so 'vidstruct serve' on the same database serves, searches and moderates them. "
    "Resumable: a video already indexed with the same content (SHA-256) and profile hash is skipped before it is "
    "decoded; each video is stored in one transaction keyed by (content, profile hash), so retried or concurrent "
    "runs never store a video twice. With --server URL the videos are submitted as jobs to a running service "
    "(by path when under its --allow-root, else uploaded; the key from --api-key or VIDSTRUCT_API_KEY) and "
    "analysed by its workers. Exit status: 0 all indexed, 1 some failed, 2 usage error."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vidstruct.service.settings import add_store_arguments

    parser.add_argument("inputs", nargs="+", metavar="VIDEO|DIR|LIST", help="video files, folders, or lists")
    add_store_arguments(parser)
    parser.add_argument(
        "--server", metavar="URL", help="index through this service's HTTP API instead of writing to a database"
    )
    parser.add_argument("--api-key", metavar="KEY", help="API key for --server (default: $VIDSTRUCT_API_KEY)")
    parser.add_argument(
        "--profile",
        metavar="P",
        help="analysis profile: a name (looked up like the service's: DATA/profiles, --profile-dir, configs/analyze) "
        "or a YAML file; with --server a name on the server (default: 'default' / the server's default)",
    )
    parser.add_argument("--profile-dir", action="append", default=[], metavar="DIR", help="folder of NAME.yaml")
    parser.add_argument("--policy", metavar="FILE", help="moderation policy every indexed video is checked against")
    parser.add_argument(
        "--job-tag", default="vidstruct-index", help="job_tag of the job rows (default vidstruct-index)"
    )
    parser.add_argument("--workers", type=count, default=1, help="parallel worker processes or Ray tasks (default 1)")
    parser.add_argument("--ray", action="store_true", help="one Ray task per video (a local Ray by default)")
    parser.add_argument("--ray-address", metavar="HOST:PORT", help="address of a Ray cluster (implies --ray)")
    parser.add_argument(
        "--max-retries", type=int, default=3, help="Ray: runs of a video's task again when its worker dies"
    )
    parser.add_argument(
        "--timeout-s", type=positive, default=3600.0, help="--server: seconds to wait for the jobs (default 3600)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _profile(args: argparse.Namespace, settings: Any) -> tuple[Any, str]:
    """The profile file and the name job rows give it."""
    from pathlib import Path

    from vidstruct.errors import InputError

    given = args.profile or settings.default_profile
    as_file = Path(given)
    if as_file.suffix.lower() in (".yaml", ".yml") and as_file.is_file():
        return as_file.resolve(), as_file.stem
    path = settings.profile_path(given)
    if path is None:
        raise InputError(f"--profile {given}: no such profile file or profile name (searched DATA/profiles, "
                         "--profile-dir, configs/analyze)")  # fmt: skip
    return path.resolve(), given


def _run_db(args: argparse.Namespace, videos: dict[str, str], on_result: Any) -> Any:
    from pathlib import Path

    from vidstruct.errors import InputError
    from vidstruct.recipes.analyze import analyze_settings, load_profile
    from vidstruct.service.db.migrate import require_current
    from vidstruct.service.db.session import make_engine
    from vidstruct.service.indexing import IndexTarget, RayResources, index_collection
    from vidstruct.service.settings import store_settings

    if args.max_retries < 0:
        raise InputError(f"--max-retries must be >= 0, got {args.max_retries}")
    settings = store_settings(args, profile_dirs=(*(Path(p) for p in args.profile_dir), Path("configs/analyze")))
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)  # an unmigrated database: one line, before any video
    finally:
        engine.dispose()
    path, name = _profile(args, settings)
    profile, composed = load_profile(path)
    analysis = analyze_settings(profile, composed, name=name, report=False)
    target = IndexTarget(
        db_url=settings.database_url, data_dir=str(settings.data_dir.resolve()), profile_name=name,
        job_tag=args.job_tag, policy_path=str(Path(args.policy).resolve()) if args.policy else None,
    )  # fmt: skip
    resources = RayResources(profile.resources.num_cpus, profile.resources.num_gpus, args.max_retries)
    return index_collection(
        target, analysis, videos, workers=args.workers, ray=args.ray or args.ray_address is not None,
        ray_address=args.ray_address, resources=resources, on_result=on_result,
    )  # fmt: skip


def _run_server(args: argparse.Namespace, videos: dict[str, str], on_result: Any) -> Any:
    import os

    from vidstruct.errors import InputError
    from vidstruct.service.indexing import index_via_server

    if args.db or args.ray or args.ray_address:
        raise InputError("--server indexes through the API: --db, --ray and --ray-address do not apply")
    key = args.api_key or os.environ.get("VIDSTRUCT_API_KEY")
    if not key:
        raise InputError("--server needs an API key with write scope: --api-key or VIDSTRUCT_API_KEY")
    return index_via_server(
        args.server, key, videos, profile=args.profile, job_tag=args.job_tag, timeout_s=args.timeout_s,
        on_result=on_result,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import contextlib
    import sys

    from vidstruct.cli.output import print_json
    from vidstruct.pipeline.analyze import collect_videos

    videos = collect_videos(args.inputs)
    seen = [0]

    def on_result(result: dict[str, Any]) -> None:
        seen[0] += 1
        if args.quiet:
            return
        detail = result["reason"] or (f"{result['segments']} segments" if result["segments"] is not None else "")
        video = f" video {result['video_id']}" if result["video_id"] else ""
        print(f"[{seen[0]}/{len(videos)}] {result['name']}: {result['status']}{video}"
              + (f" ({detail})" if detail else ""), file=sys.stderr)  # fmt: skip

    # while videos run, stdout is stderr: Ray's driver prints its notices (a worker died...) to stdout, which
    # holds only the summary (--json: only the JSON)
    with contextlib.redirect_stdout(sys.stderr):
        report = _run_server(args, videos, on_result) if args.server else _run_db(args, videos, on_result)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.summary())
    for result in report.failed:
        print(f"failed: {result['name']}: {result['reason']}", file=sys.stderr)
    return 0 if report.ok else 1
