"""``vidstruct extract-features``: snippet features of untrimmed videos into a feature directory.

Exit codes: 0 every video done (or already done), 1 some videos failed (each listed with its message, and
recorded in the manifest's ``failed``; a worker process that dies on a video fails that video only), 2 usage
errors (bad arguments, unreadable list or checkpoint, a feature directory of another configuration, Ray not
installed or no Ray cluster answering at ``--ray-address``).
"""

from __future__ import annotations

import argparse

from vidstruct.cli.argtypes import count, positive

NAME = "extract-features"
HELP = "snippet features (and class probabilities) of untrimmed videos from a recognition checkpoint"
DESCRIPTION = (
    "Slide a window of --window-s seconds every --stride-s seconds over each video and store the backbone's "
    "pooled features (DIR/<video_id>.npy, float32 [num_snippets, feature_dim]) and its softmax class "
    "probabilities (DIR/<video_id>.probs.npy) plus DIR/manifest.json (format vidstruct.features/1; videos are "
    "recorded one by one in DIR/manifest.journal.jsonl, folded into manifest.json at the end). Rerunning skips "
    "videos already done, also after a killed run; a video that cannot be read, or whose worker process dies, "
    "is reported and the others go on. "
    "Exit status: 0 all done, 1 some videos failed, 2 usage error."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="recognition model checkpoint (or its run directory)")
    parser.add_argument(
        "--videos",
        required=True,
        metavar="LIST",
        help="text file (one path per line, '#' comments, paths relative to the file), a directory of videos, "
        "or an ActivityNet-style JSON whose videos are in <json dir>/videos/<id>.mp4",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="feature directory (created or resumed)")
    parser.add_argument("--window-s", type=positive, default=None, help="snippet length, seconds (default: clip span)")
    parser.add_argument("--stride-s", type=positive, default=None, help="snippet step, seconds (default: window/2)")
    parser.add_argument("--workers", type=count, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--batch-size", type=count, default=8, help="clips per forward pass (default 8)")
    parser.add_argument("--ray", action="store_true", help="run the videos as Ray tasks (a local Ray by default)")
    parser.add_argument(
        "--ray-address", default=None, metavar="HOST:PORT", help="address of a Ray cluster (implies --ray)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1...")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: every command module is imported to build the parser, and the
    # pipeline imports torch (~2.5 s of the ~5 s `import vidstruct.pipeline.features` takes on this machine)
    from vidstruct.cli.output import print_json, progress
    from vidstruct.device import resolve_device
    from vidstruct.pipeline.features import extract_features
    from vidstruct.pipeline.video_list import read_video_list

    resolve_device(args.device)  # worker processes get the name: a device this machine lacks fails here, once
    videos = read_video_list(args.videos)
    report = extract_features(
        args.checkpoint,
        videos,
        args.out,
        window_s=args.window_s,
        stride_s=args.stride_s,
        workers=args.workers,
        ray=args.ray or args.ray_address is not None,
        ray_address=args.ray_address,
        device=args.device,
        batch_size=args.batch_size,
        progress=lambda items, total: progress(items, total=total, description="extract", quiet=args.quiet),
    )
    if args.json:
        print_json({**report.to_dict(), "ok": report.ok})
    else:
        print(
            f"{report.out_dir}: {len(report.done)} done, {len(report.skipped)} skipped (already done), "
            f"{len(report.failed)} failed (config {report.config_hash})"
        )
        for video_id, message in report.failed.items():
            print(f"failed: {video_id}: {message}")
    return 0 if report.ok else 1
