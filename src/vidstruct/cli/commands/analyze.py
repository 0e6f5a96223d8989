"""``vidstruct analyze VIDEO|DIR|LIST ... --out DIR``: the structure of each video, decoded once (actors, when an
action detector is given, included: their keyframe clips come from the same pass).

Exit codes: 0 every video done (or already done), 1 some videos failed (each listed on stderr with its message,
and in ``OUT/analyze.json``), 2 usage errors (bad arguments, a profile that does not validate, a missing
checkpoint or one of the wrong kind, Ray not installed or not answering).
"""

from __future__ import annotations

import argparse
from typing import Any

from vidstruct.cli.argtypes import count, positive

NAME = "analyze"
HELP = "the structure of videos (shots, windows, segments, actors, embeddings, thumbnails, report)"
DESCRIPTION = (
    "Analyze videos into OUT/VIDEO_ID/: structure.json (format vidstruct.structure/1, validated; "
    "'vidstruct schema structure' prints its JSON Schema), embeddings.npy (one row per recognition window), "
    "thumbs/ (a JPEG per shot and per segment) and report.html. Each video is decoded once and every stage gets "
    "its frames from that pass: shot detection, recognition windows (top-k probabilities and embeddings), the "
    "localizer's snippets, thumbnails. Segments come from the localizer when one is given, else from windows "
    "merged per label; they never cross a shot boundary unless the profile says so. With an action detector "
    "(--detector, and person boxes from --persons-proposals or --person-detector), actors: person boxes at "
    "keyframes with track ids and action probabilities (their keyframe clips come from the same pass). "
    "A profile (task: analyze) "
    "names the models and settings; options override it. Folders and lists are resumable: a video already "
    "analyzed with the same content and profile is skipped. Exit status: 0 all done, 1 some videos failed, "
    "2 usage error."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="VIDEO|DIR|LIST",
        help="video files, folders of videos, or lists (text: one path per line; ActivityNet-style JSON)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (OUT/VIDEO_ID/ per video)")
    parser.add_argument("--profile", metavar="PROFILE.yaml", help="analysis profile (task: analyze); default: none")
    parser.add_argument("--recognizer", metavar="CKPT", help="recognition checkpoint or its run directory")
    parser.add_argument("--localizer", metavar="RUN", help="localizer checkpoint (localizer.pt) or its run directory")
    parser.add_argument("--backbone", metavar="CKPT", help="the localizer's backbone (default: the one it records)")
    parser.add_argument("--detector", metavar="RUN", help="action detector (detector.pt) or its run directory")
    parser.add_argument(
        "--persons-proposals", metavar="FILE", help="the actors' person boxes: an AVA-style proposals CSV (or pickle)"
    )
    parser.add_argument(
        "--person-detector",
        metavar="RUN",
        help="the actors' person boxes: a person detector (person_detector.pt / run)",
    )
    parser.add_argument("--shots", choices=["transnetv2", "content", "none"], help="shot detector")
    parser.add_argument("--window-s", type=positive, help="recognition window, seconds")
    parser.add_argument("--stride-s", type=positive, help="recognition window step, seconds")
    parser.add_argument("--top-k", type=int, help="classes kept per window (0 = all)")
    parser.add_argument("--device", help="auto (CUDA when available), cpu, cuda, cuda:1...")
    parser.add_argument(
        "--runtime", choices=["torch", "onnxruntime"], help="how the backbones run (onnxruntime: exported, on the CPU)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any profile key, e.g. segments.min_prob=0.5"
    )
    parser.add_argument(
        "--features",
        metavar="F1,F2",
        help="only the results asked for, comma-separated among shots, labels, segments, actors: the models other "
        "results need are neither loaded nor run (default: every stage of the profile)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")
    parser.add_argument(
        "--export",
        action="append",
        default=[],
        choices=["webvtt", "csv", "activitynet", "ava", "otio", "labelstudio"],
        help="also write this export beside each structure.json (repeatable; see 'vidstruct export-structure'; "
        "ava needs actors)",
    )
    parser.add_argument("--workers", type=count, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--ray", action="store_true", help="run the videos as Ray tasks (a local Ray by default)")
    parser.add_argument(
        "--ray-address", default=None, metavar="HOST:PORT", help="address of a Ray cluster (implies --ray)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _options(args: argparse.Namespace) -> dict[str, tuple[str, Any]]:
    return {
        "recognizer.checkpoint": ("--recognizer", args.recognizer),
        "localizer.checkpoint": ("--localizer", args.localizer),
        "localizer.backbone": ("--backbone", args.backbone),
        "actors.detector": ("--detector", args.detector),
        "actors.persons.proposals": ("--persons-proposals", args.persons_proposals),
        "actors.persons.detector": ("--person-detector", args.person_detector),
        "shots.detector": ("--shots", args.shots),
        "recognizer.window_s": ("--window-s", args.window_s),
        "recognizer.stride_s": ("--stride-s", args.stride_s),
        "recognizer.top_k": ("--top-k", args.top_k),
        "runtime.device": ("--device", args.device),
        "runtime.engine": ("--runtime", args.runtime),
    }


def run(args: argparse.Namespace) -> int:
    # imported here, not at module top: every command module is imported to build the parser, and the
    # pipeline imports torch (seconds)
    import dataclasses
    import sys
    from pathlib import Path

    from vidstruct.cli.output import print_json
    from vidstruct.pipeline.analyze import analyze_videos, collect_videos
    from vidstruct.recipes.analyze import analyze_settings, feature_stages, load_profile

    profile, composed = load_profile(args.profile, _options(args), args.set)
    name = Path(args.profile).stem if args.profile else None
    report = False if args.no_report else None
    settings = analyze_settings(profile, composed, name=name, report=report, exports=args.export)
    if args.features is not None:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
        settings = dataclasses.replace(settings, stages=feature_stages(features))
    videos = collect_videos(args.inputs)
    ray = args.ray or args.ray_address is not None
    with _Progress(quiet=args.quiet, videos=len(videos), per_video=args.workers == 1 and not ray) as bar:
        report = analyze_videos(
            settings,
            videos,
            args.out,
            workers=args.workers,
            ray=ray,
            ray_address=args.ray_address,
            progress=bar.video_progress,
            on_result=bar.on_result,
        )
    if args.json:
        print_json(report.to_dict())
    else:
        for video_id, result in report.done.items():
            print(
                f"{video_id}: {result['shots']} shots, {result['windows']} windows, {result['segments']} segments, "
                f"{result.get('actors', 0)} actor boxes "
                f"-> {result['structure']}" + (f" (report {result['report']})" if result["report"] else "")
            )
        print(
            f"{report.out_dir}: {len(report.done)} done, {len(report.skipped)} skipped (already done), "
            f"{len(report.failed)} failed"
        )
    for video_id, message in report.failed.items():
        print(f"failed: {video_id}: {message}", file=sys.stderr)
    return 0 if report.ok else 1


class _Progress:
    """Rich progress on stderr: one bar per video analyzed here (stage, seconds of video done, time left), or
    one bar of videos when workers analyze them; nothing with ``quiet``."""

    def __init__(self, *, quiet: bool, videos: int, per_video: bool) -> None:
        self.quiet, self.videos, self.per_video = quiet, videos, per_video
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None

    def __enter__(self) -> _Progress:
        return self

    def _start(self) -> None:
        """Show the bars at the first news of a video (an error before that prints nothing else)."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.1f}/{task.total:.1f} {task.fields[unit]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.__enter__()
        if not self.per_video:
            self._overall = self._bar.add_task("videos", total=self.videos, unit="videos")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    @property
    def video_progress(self) -> Any:
        return self._on_stage if not self.quiet and self.per_video else None

    def _on_stage(self, video_id: str, stage: str, done_s: float, total_s: float) -> None:
        if self._bar is None:
            self._start()
        task = self._tasks.get(video_id)
        if task is None:
            task = self._tasks[video_id] = self._bar.add_task(video_id, total=max(total_s, 1e-3), unit="s")
        self._bar.update(task, completed=done_s, description=f"{video_id} [{stage}]")

    def on_result(self, video_id: str, status: str) -> None:
        if self.quiet:
            return
        if self._bar is None:
            self._start()
        if self._overall is not None:
            self._bar.advance(self._overall)
        elif video_id in self._tasks:
            self._bar.update(self._tasks[video_id], description=f"{video_id} [{status}]")
