"""``vidstruct analyze`` (one decode pass) against the same stages run as separate commands, and against pure decode
+ pure model forward, in CPU seconds per minute of video; ONNX Runtime against eager PyTorch; peak memory.

Input: one synthetic untrimmed video (``vidstruct synth --task localize``: real H.264, 96 px, 25 fps, actions
separated by background; ``--duration-s``, 60 by default, 20 with ``--quick``) and models with the demo's
architecture (``r2plus1d_tiny`` widths 8/16/32/64, 8 frames every 4th at 25 fps, crop 48, and a small BMN on its
pooled features, random weights: cost does not depend on the weights) unless ``--recognizer`` / ``--localizer``
name trained ones. Windows: one training clip's span (1.28 s) every 0.5 s; the localizer's snippets are the same
windows (one backbone pass serves both in analyze). Shots: ``--shots`` (``transnetv2``, the default of analyze,
or ``content``; ``--quick``: content).

Rows (each the median of ``--repeats`` runs in this process, at least 7 for the backbone's pure forward rows,
models loaded once beforehand, after a warm-up run; the rows' runs interleaved round by round, so that load
from other processes falls on every row alike; CPU = user + system time of every thread of the process,
``time.process_time``):

- ``analyze``: :func:`vidstruct.pipeline.analyze.analyze_video` (probe, hash, the one decode pass, shots,
  windows + embeddings, localization, thumbnails, structure.json, report.html);
- ``analyze (onnxruntime)``: the same with the backbone run by ONNX Runtime (``--runtime onnxruntime``) when
  that engine is available;
- ``separate: ...``: what a user chained before analyze, each command decoding the video itself:
  ``predict --window-s`` (:meth:`Recognizer.predict_windows`), ``localize`` (:meth:`Localizer.localize`),
  ``extract-features`` (:func:`vidstruct.pipeline.features.snippet_features`) and a shot pass
  (:func:`vidstruct.pipeline.shots.detect_shots`); process start-up and model loading are left out (they would
  only add to the separate commands), and they write no thumbnails, document or report;
- ``pure decode``: the frames analyze needs (the union of every stage's frame indices) decoded at analyze's
  decode size by one :class:`~vidstruct.io.VideoReader` pass, nothing else;
- ``pure forward``: the models alone on inputs of the same count and shape (random): the backbone on every
  window (batches of 8, eager PyTorch; and ONNX Runtime), the shot detector on every frame at its frame size,
  the localizer on the windows' features.

Goals (issue #13): analyze ≤ 1.3 × (pure decode + pure forward); separate ≥ 2 × analyze.

``--memory`` (also in ``--full``): peak resident memory (``VmHWM``) of a fresh process running one analysis
(content shots, recognizer + localizer, 1 torch thread), and its ``VmRSS`` once the models are loaded, so the
growth during the analysis shows; a 1-minute and a 10-minute video (``--quick``: 10 s and 60 s), 96 px at
25 fps, written with :func:`vidstruct.io.write_video`.

Torch runs on ``--threads`` CPU threads (default 1: on a shared machine, more threads mostly measure waiting
for cores); FFmpeg picks its own. Outputs go to ``bench_out/analyze/`` (git ignores it).

Usage: ``python benchmarks/analyze.py [--quick] [--duration-s S] [--shots transnetv2|content] [--repeats N]
[--memory] [--recognizer CKPT --localizer LOCALIZER.pt]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = ROOT / "bench_out" / "analyze"
STRIDE_S = 0.5
BATCH = 8


# ----------------------------------------------------------------------------------------------- inputs
def make_models(folder: Path) -> tuple[Path, Path]:
    """A random-weight recognizer with the demo's architecture and a small BMN on its features."""
    from vidstruct.models import MODELS
    from vidstruct.models.checkpoint import save_model_checkpoint, sha256_file
    from vidstruct.models.localization.checkpoint import save_localizer
    from vidstruct.models.spec import InputSpec

    folder.mkdir(parents=True, exist_ok=True)
    classes = ["move_left", "move_right", "move_up", "move_down", "grow", "shrink", "rotate_cw", "rotate_ccw",
               "bounce", "stay_still"]  # fmt: skip
    torch.manual_seed(0)
    kwargs: dict[str, Any] = {"widths": [8, 16, 32, 64], "dropout": 0.2, "input_mode": "diff"}
    model = MODELS.build("r2plus1d_tiny", num_classes=len(classes), **kwargs).eval()
    model.input_spec = InputSpec(num_frames=8, frame_interval=4, crop_size=48, short_side=54, target_fps=25.0)
    rec = save_model_checkpoint(
        folder / "model.pt", model, model_name="r2plus1d_tiny", model_kwargs=kwargs, classes=classes
    )
    window_s = 8 * 4 / 25.0
    bmn_kwargs = {
        "feat_dim": 64, "temporal_scale": 32, "max_duration": 12, "num_sample": 8, "num_sample_perbin": 2,
        "hidden_dim_1d": 64, "hidden_dim_2d": 32, "hidden_dim_3d": 64,
    }  # fmt: skip
    features = {
        "backbone_checkpoint": str(rec.resolve()), "backbone_sha256": sha256_file(rec),
        "backbone_model": "r2plus1d_tiny", "backbone_classes": classes, "config_hash": "bench",
        "window_s": window_s, "stride_s": STRIDE_S, "feature_dim": 64, "temporal_scale": 32, "mode": "rescale",
        "window_stride": None,
    }  # fmt: skip
    loc = save_localizer(
        folder / "localizer.pt", MODELS.build("bmn", **bmn_kwargs).eval(), model_name="bmn", model_kwargs=bmn_kwargs,
        classes=classes, features=features, postprocess={"fusion": "snippet", "fusion_top_k": 2, "max_segments": 30},
    )  # fmt: skip
    return rec, loc


def make_synth_video(folder: Path, duration_s: float) -> Path:
    from vidstruct.data.synth import generate

    path = folder / f"synth_{int(duration_s)}s" / "videos" / "synth_00000.mp4"
    if not path.is_file():
        generate("localize", path.parents[1], num_videos=1, seed=7, size=96, fps=25, duration=duration_s)
    return path


def make_plain_video(path: Path, duration_s: float, size: int = 96, fps: int = 25) -> Path:
    """A moving square over noise, ``size`` px, cheap to write for long durations (memory runs)."""
    from vidstruct.io import write_video

    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(duration_s * fps))
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 40, size=(16, size, size, 3), dtype=np.uint8)

    def frames() -> Any:
        for i in range(n):
            frame = noise[i % 16].copy()
            x = int((i * 2) % (size - 16))
            frame[40:56, x : x + 16] = (200, 80 + (i // 250) % 100, 40)
            yield frame

    return write_video(path, frames(), fps)


# ----------------------------------------------------------------------------------------------- measuring
def measure_interleaved(rows: list[tuple[str, Callable[[], Any], int]]) -> list[tuple[str, float, float]]:
    """``(name, median CPU seconds, median wall seconds)`` of each ``(name, fn, repeats)`` row.

    One warm-up call per row, then rounds that call every row still short of its ``repeats`` once, in
    order: a change of machine load (other processes) hits every row alike instead of the rows that
    happened to run during it, so the ratios between rows hold even when the seconds do not.
    """
    for _, fn, _ in rows:
        fn()
    cpu: list[list[float]] = [[] for _ in rows]
    wall: list[list[float]] = [[] for _ in rows]
    for round_ in range(max((r for _, _, r in rows), default=0)):
        for k, (_, fn, repeats) in enumerate(rows):
            if round_ < repeats:
                c0, w0 = time.process_time(), time.perf_counter()
                fn()
                cpu[k].append(time.process_time() - c0)
                wall[k].append(time.perf_counter() - w0)
    return [(name, statistics.median(c), statistics.median(w)) for (name, _, _), c, w in zip(rows, cpu, wall)]


def _settings(rec: Path, loc: Path, shots: str, engine: str | None = None) -> Any:
    from vidstruct.pipeline.analyze import (
        AnalyzeSettings,
        LocalizationSettings,
        RecognitionSettings,
        ShotSettings,
    )

    settings = AnalyzeSettings(
        shots=ShotSettings(shots),
        recognition=RecognitionSettings(str(rec), None, STRIDE_S, 5, BATCH),
        localization=LocalizationSettings(str(loc)),
        device="cpu",
    )
    if engine is not None:
        settings = dataclasses.replace(settings, engine=engine)
    return settings


def _needed_frames(models: Any, video: Path) -> tuple[np.ndarray, int | None, int]:
    """(frame indices analyze decodes, its decode short side, frames the shot detector sees)."""
    from vidstruct.io import VideoReader, probe
    from vidstruct.pipeline.analyze.segments import MIN_SPAN_S
    from vidstruct.pipeline.analyze.shot_tap import ShotTap
    from vidstruct.pipeline.analyze.taps import decode_short_side
    from vidstruct.pipeline.analyze.thumbnails import ThumbnailTap
    from vidstruct.pipeline.analyze.video import _decode_needs
    from vidstruct.pipeline.analyze.windows import plan_windows

    info = probe(video)
    short = decode_short_side(info.width, info.height, _decode_needs(models, info))
    reader = VideoReader(video, short_side=short)
    try:
        index = reader.index
        rec = models.recognizer
        plan = plan_windows(index, rec.window_s, rec.stride_s, rec.recognizer.spec.num_frames, min_span_s=MIN_SPAN_S)
        shot = ShotTap(models.shot_detector, index).indices()
        thumb = models.settings.thumbnails
        thumbs = ThumbnailTap(index, width=thumb.width, quality=thumb.quality, fps=thumb.fps).indices()
    finally:
        reader.close()
    union = np.unique(np.concatenate([plan.frame_indices.ravel(), shot, thumbs]))
    return union, short, int(shot.size)


def run_bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    from vidstruct.io import VideoReader, probe
    from vidstruct.pipeline.analyze import analyze_video, load_models
    from vidstruct.pipeline.analyze import models as analyze_models
    from vidstruct.pipeline.features import _features_and_probs, snippet_features
    from vidstruct.pipeline.localizer import Localizer
    from vidstruct.pipeline.shots import detect_shots

    work = Path(args.workdir)
    rec_path, loc_path = (
        (Path(args.recognizer), Path(args.localizer)) if args.recognizer else make_models(work / "models")
    )
    video = make_synth_video(work, args.duration_s)
    minutes = probe(video).duration_s / 60.0
    models = load_models(_settings(rec_path, loc_path, args.shots))
    rec = models.recognizer
    assert rec is not None and models.localizer is not None and models.shot_detector is not None
    out = work / "out"
    rows: list[dict[str, Any]] = []

    registered: list[tuple[str, Callable[[], Any], int]] = []

    def add(name: str, fn: Callable[[], Any], repeats: int = args.repeats) -> None:
        registered.append((name, fn, repeats))

    print(f"video: {video} ({minutes * 60:.1f} s), shots: {args.shots}, torch threads {torch.get_num_threads()}")
    result = analyze_video(models, video, out / "torch")
    windows = result.windows
    stages = ", ".join(f"{k} {v / minutes:.2f}" for k, v in result.timings.items())
    print(f"  analyze's own timings (wall s / min of video, first run): {stages}", flush=True)
    add("analyze", lambda: analyze_video(models, video, out / "torch"))
    ort_models = None
    if "onnxruntime" in getattr(analyze_models, "ENGINES", ()):
        ort_models = load_models(_settings(rec_path, loc_path, args.shots, engine="onnxruntime"))
        add("analyze (onnxruntime)", lambda: analyze_video(ort_models, video, out / "ort"))

    recognizer = rec.recognizer
    localizer = Localizer(models.localizer, recognizer)
    add("separate: predict --window-s", lambda: recognizer.predict_windows(video, stride_s=STRIDE_S, top_k=0))
    add("separate: localize", lambda: localizer.localize(video))
    add(
        "separate: extract-features",
        lambda: snippet_features(recognizer, video, window_s=rec.window_s, stride_s=STRIDE_S, batch_size=BATCH),
    )
    add("separate: shots", lambda: detect_shots(video, models.shot_detector))

    union, short, shot_frames = _needed_frames(models, video)

    def decode() -> int:
        reader = VideoReader(video, short_side=short)
        try:
            return sum(1 for _ in reader.iter_frames(union))
        finally:
            reader.close()

    add(f"pure decode ({union.size} frames at short side {short or 'source'})", decode)

    spec = recognizer.spec
    gen = torch.Generator().manual_seed(0)
    clips = torch.randn(BATCH, 3, spec.num_frames, spec.crop_size, spec.crop_size, generator=gen)
    batches = [clips[: min(BATCH, windows - b)] for b in range(0, windows, BATCH)]
    fwd_repeats = max(7, args.repeats)  # short calls: more repeats, or the ratio is noise
    add(
        "pure forward: backbone (torch)",
        lambda: [_features_and_probs(recognizer.model, b) for b in batches],
        fwd_repeats,
    )
    if ort_models is not None and getattr(ort_models.recognizer, "runner", None) is not None:
        runner = ort_models.recognizer.runner
        add("pure forward: backbone (onnxruntime)", lambda: [runner(b) for b in batches], fwd_repeats)
    width, height = models.shot_detector.frame_size
    frames = np.random.default_rng(0).integers(0, 255, (shot_frames, height, width, 3), dtype=np.uint8)
    times = np.arange(shot_frames) / 25.0

    def shots_forward() -> Any:
        det = models.shot_detector
        for s in range(0, shot_frames, 64):
            det.push(frames[s : s + 64], times[s : s + 64])
        return det.close(end_s=float(times[-1]) + 0.04)

    add(f"pure forward: shots ({args.shots}, {shot_frames} frames)", shots_forward)
    from vidstruct.data.features import VideoFeatures, snippet_centers_s
    from vidstruct.pipeline.localization_chain import localize_features

    dim = int(recognizer.model.feature_dim)
    feats = VideoFeatures(
        features=np.random.default_rng(1).standard_normal((windows, dim)).astype(np.float32),
        probs=np.full((windows, len(recognizer.classes)), 1.0 / len(recognizer.classes), np.float32),
        centers_s=np.asarray(snippet_centers_s(np.arange(windows), rec.window_s, STRIDE_S, minutes * 60), np.float64),
        duration_s=minutes * 60,
        stride_s=STRIDE_S,
        window_s=rec.window_s,
    )
    add("pure forward: localizer", lambda: localize_features(models.localizer, feats))
    for name, cpu, wall in measure_interleaved(registered):
        rows.append({"row": name, "cpu_s_per_min": cpu / minutes, "wall_s_per_min": wall / minutes})
        print(f"  {name}: {cpu / minutes:.2f} CPU s / min of video ({wall / minutes:.2f} s wall)", flush=True)
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[str]:
    by = {r["row"]: r["cpu_s_per_min"] for r in rows}
    analyze = by["analyze"]
    separate = sum(v for k, v in by.items() if k.startswith("separate:"))
    decode = next(v for k, v in by.items() if k.startswith("pure decode"))
    forward = sum(v for k, v in by.items() if k.startswith("pure forward") and "onnxruntime" not in k)
    lines = [
        "| row | CPU s / min of video | wall s / min | × analyze (CPU) |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        cpu, wall = r["cpu_s_per_min"], r["wall_s_per_min"]
        lines.append(f"| {r['row']} | {cpu:.2f} | {wall:.2f} | {cpu / analyze:.2f} |")
    lines.append(f"| **separate commands, total** | {separate:.2f} | | {separate / analyze:.2f} |")
    lines.append(
        f"| **pure decode + pure forward (torch)** | {decode + forward:.2f} | | {(decode + forward) / analyze:.2f} |"
    )
    lines.append("")
    lines.append(
        f"analyze ÷ (decode + forward) = {analyze / (decode + forward):.2f} (goal ≤ 1.3); "
        f"separate ÷ analyze = {separate / analyze:.2f} (goal ≥ 2)"
    )
    if "analyze (onnxruntime)" in by:
        fwd_t = by["pure forward: backbone (torch)"]
        fwd_o = by.get("pure forward: backbone (onnxruntime)", float("nan"))
        lines.append(
            f"onnxruntime: backbone forward torch ÷ onnxruntime = {fwd_t / fwd_o:.2f}; "
            f"analyze torch ÷ onnxruntime = {analyze / by['analyze (onnxruntime)']:.2f}"
        )
    return lines


# ----------------------------------------------------------------------------------------------- memory
def memory_child(video: str, rec: str, loc: str, out: str) -> None:
    """Run one analysis (content shots) in this fresh process and print its peak RSS as JSON."""
    from vidstruct.pipeline.analyze import analyze_video, load_models

    torch.set_num_threads(1)
    models = load_models(_settings(Path(rec), Path(loc), "content"))
    loaded_kb = _status_kb("VmRSS")
    t0 = time.perf_counter()
    result = analyze_video(models, video, out)
    seconds = time.perf_counter() - t0
    peak_kb = max(_status_kb("VmHWM"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(
        json.dumps(
            {"peak_rss_mb": peak_kb / 1024, "loaded_rss_mb": loaded_kb / 1024, "windows": result.windows,
             "seconds": seconds}
        )
    )  # fmt: skip


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def run_memory(args: argparse.Namespace, durations: list[float]) -> list[str]:
    work = Path(args.workdir)
    rec, loc = (Path(args.recognizer), Path(args.localizer)) if args.recognizer else make_models(work / "models")
    lines = [
        "| video | windows | RSS after loading models (MB) | peak RSS (MB) | growth (MB) | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for d in durations:
        video = make_plain_video(work / "memory" / f"plain_{int(d)}s.mp4", d)
        cmd = [sys.executable, __file__, "--memory-child", str(video), str(rec), str(loc), str(work / "memory_out")]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        peak, loaded = got["peak_rss_mb"], got["loaded_rss_mb"]
        print(f"  {d:g} s: peak RSS {peak:.0f} MB ({loaded:.0f} MB after loading models)", flush=True)
        lines.append(
            f"| {d:g} s, 96 px, 25 fps | {got['windows']} | {loaded:.0f} | {peak:.0f} | {peak - loaded:.0f} | "
            f"{got['seconds']:.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 s video, content shots, 1 repeat, memory 10/60 s")
    parser.add_argument("--full", action="store_true", help="defaults, plus the memory runs (1 and 10 minutes)")
    parser.add_argument("--duration-s", type=float, default=None)
    parser.add_argument("--shots", choices=["transnetv2", "content"], default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="only the peak-memory runs")
    parser.add_argument("--memory-durations", default=None, help="comma-separated seconds (default 60,600)")
    parser.add_argument("--recognizer", default=None)
    parser.add_argument("--localizer", default=None)
    parser.add_argument("--workdir", default=str(WORKDIR))
    parser.add_argument("--memory-child", nargs=4, metavar=("VIDEO", "REC", "LOC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    if bool(args.recognizer) != bool(args.localizer):
        parser.error("--recognizer and --localizer go together")
    torch.set_num_threads(args.threads)
    args.duration_s = args.duration_s or (20.0 if args.quick else 60.0)
    args.shots = args.shots or ("content" if args.quick else "transnetv2")
    args.repeats = args.repeats or (1 if args.quick else 3)
    durations = [float(x) for x in (args.memory_durations or ("10,60" if args.quick else "60,600")).split(",")]
    if not args.memory:
        rows = run_bench(args)
        print()
        print("\n".join(summarize(rows)))
    if args.memory or args.full or args.quick:
        print()
        print("\n".join(run_memory(args, durations)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
