"""CPU inference of vidstruct models vs the reference implementations, with identical weights.

Rows: SlowFast R50 8×8, X3D-M, CSN R101 (reference: PyTorchVideo, weights moved over with our
converters) and ViViT-B (reference: Hugging Face ``VivitForVideoClassification`` ↔ our
``vivit_b_joint`` via the ``hf`` converter; our ``vivit_b_fe`` factorised encoder has no
Hugging Face counterpart and is timed alone). For each model: fp32 at batch 1 and 4,
``channels_last_3d`` (CNNs), bf16 autocast (batch 1), and ``torch.compile`` (``--full`` only).
Both implementations run the same variant; ``ratio`` = vidstruct throughput ÷ reference
throughput (> 1: vidstruct is faster), from the process CPU time per call; ``max abs diff``
checks that the outputs agree (probabilities where the reference ends in a softmax).

Peak memory is the growth of the process's peak resident set during one forward
(``/proc/self/clear_refs`` resets the peak; freed heap is trimmed first), in MB.

``--quick`` (default in ``make bench``): half the frames and 112 px crops, one thread, ≥ 3 timed
runs (1 for bf16). ``--full``: the models' default inputs, torch's threads, ≥ 5 runs, plus
torch.compile. Each call is timed alternately for the two implementations and the fastest run
counts, which keeps ratios meaningful on a machine with other load (the load average is printed).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

CNN_MODELS = ("slowfast_r50", "x3d_m", "csn_r101")
VIT_MODELS = ("vivit_b_joint", "vivit_b_fe")


# --------------------------------------------------------------------------- measurement


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_memory() -> int | None:
    """Trim freed heap, reset the process's peak RSS (``/proc/self/clear_refs``); the current RSS in kB."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_kb("VmRSS")


def peak_growth_mb(base_kb: int | None) -> float | None:
    """Peak RSS since :func:`reset_peak_memory` minus its base, MB (``None`` without /proc)."""
    peak = _status_kb("VmHWM")
    return None if base_kb is None or peak is None else max(0.0, (peak - base_kb) / 1024)


@dataclass
class Row:
    model: str
    variant: str
    batch: int
    input: str
    ours: float | None  # clips/s, wall clock
    ref: float | None
    ours_mb: float | None
    ref_mb: float | None
    diff: float | None
    note: str = ""
    cpu_ratio: float | None = None  # reference CPU s per call ÷ vidstruct CPU s per call

    @property
    def ratio(self) -> float | None:
        return self.cpu_ratio


@dataclass
class Timing:
    seconds: float  # fastest call, wall clock (least disturbed by other processes)
    cpu_seconds: float  # fastest call, process CPU time (insensitive to time spent descheduled)
    peak_mb: float | None  # peak RSS growth during the first timed call


def time_pair(
    ours: Callable[[], object],
    ref: Callable[[], object] | None,
    *,
    min_runs: int,
    max_runs: int,
    budget_s: float,
) -> tuple[Timing, Timing | None]:
    """Time ``ours`` and ``ref`` alternately (so load drift hits both alike); the minimum per call.

    Runs at least ``min_runs`` pairs, more while under ``budget_s`` seconds (up to ``max_runs``).
    The first timed call of each also records its peak memory.
    """
    fns = {"ours": ours} if ref is None else {"ours": ours, "ref": ref}
    times: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    peaks: dict[str, float | None] = {}
    start = time.perf_counter()
    runs = 0
    while runs < min_runs or (runs < max_runs and time.perf_counter() - start < budget_s):
        for key, fn in fns.items():
            base = reset_peak_memory() if runs == 0 else None
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
            if runs == 0:
                peaks[key] = peak_growth_mb(base)
        runs += 1
    result = {k: Timing(min(v), min(cpu[k]), peaks.get(k)) for k, v in times.items()}
    return result["ours"], result.get("ref")


# --------------------------------------------------------------------------- model pairs


@dataclass
class Pair:
    name: str
    ours: nn.Module
    ref: nn.Module | None
    shape: tuple[int, int, int, int]  # C, T, H, W of one clip
    call_ref: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None
    ref_softmax: bool = False
    note: str = ""
    is_cnn: bool = True


def _pytorchvideo_hub():
    import torchvision.transforms.functional as F

    sys.modules.setdefault("torchvision.transforms.functional_tensor", F)  # PyTorchVideo 0.1.5 on new torchvision
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pytorchvideo.models import hub
    return hub


def _randomize_norms(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)


def cnn_pair(name: str, quick: bool) -> Pair:
    from vidstruct.models import MODELS
    from vidstruct.models.convert import get_converter, load_checkpoint_into

    hub = _pytorchvideo_hub()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(hub, name)(pretrained=False).eval()
    _randomize_norms(ref)
    ours = MODELS.build(name).eval()
    load_checkpoint_into(ours, get_converter("pytorchvideo", name).fn(ref.state_dict()), model_name=name)
    spec = ours.input_spec
    c, t, h, w = spec.shape
    if quick:  # PyTorchVideo's head pools with a fixed window sized for the default input: make it global
        t, h, w = t // 2, 112, 112
        head = ref.blocks[-1]
        if name.startswith("slowfast"):
            ref.blocks[-2].pool = nn.ModuleList([nn.AdaptiveAvgPool3d(1), nn.AdaptiveAvgPool3d(1)])
        elif name.startswith("x3d"):
            head.pool.pool = nn.AdaptiveAvgPool3d(1)
        else:
            head.pool = nn.AdaptiveAvgPool3d(1)
    alpha = int(spec.extra.get("alpha", 1))

    def call_ref(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if name.startswith("slowfast"):  # PyTorchVideo takes [slow, fast] and overwrites the list
            return model([x[:, :, ::alpha], x])
        return model(x)

    softmax = isinstance(getattr(ref.blocks[-1], "activation", None), nn.Softmax)
    return Pair(name, ours, ref, (c, t, h, w), call_ref, ref_softmax=softmax)


def vivit_pair(name: str, quick: bool, workdir: Path) -> Pair:
    from vidstruct.models import MODELS

    frames, size = (16, 112) if quick else (32, 224)
    if name not in MODELS:
        raise LookupError(f"{name} is not registered")
    if name != "vivit_b_joint":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = MODELS.build(name).eval()
        if quick and hasattr(ours, "resize_input"):
            ours.resize_input(num_frames=frames, image_size=size)
        return Pair(
            name, ours, None, (3, frames, size, size), None, note="no Hugging Face implementation", is_cnn=False
        )

    import transformers

    from vidstruct.models.checkpoint import load_model_checkpoint
    from vidstruct.models.convert import convert_checkpoint

    torch.manual_seed(0)
    config = transformers.VivitConfig(num_frames=frames, image_size=size, num_labels=400)
    ref = transformers.VivitForVideoClassification(config).eval()
    transformers.utils.logging.disable_progress_bar()
    ref.save_pretrained(workdir / "hf_vivit")
    convert_checkpoint("hf", workdir / "hf_vivit", name, workdir / "vivit.pt")
    ours, _ = load_model_checkpoint(workdir / "vivit.pt", name)

    def call_ref(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(pixel_values=x.transpose(1, 2)).logits  # HF takes [B, T, C, H, W]

    return Pair(name, ours, ref, (3, frames, size, size), call_ref, is_cnn=False)


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Budget:
    min_runs: int
    max_runs: int
    seconds: float


def run_variant(pair: Pair, variant: str, batch: int, budget: Budget) -> Row:
    torch.manual_seed(0)
    x = torch.randn(batch, *pair.shape)
    ours, ref = pair.ours, pair.ref
    autocast = variant == "bf16-autocast"
    if variant == "channels_last_3d":
        ours = ours.to(memory_format=torch.channels_last_3d)
        ref = ref.to(memory_format=torch.channels_last_3d) if ref is not None else None
        x = x.contiguous(memory_format=torch.channels_last_3d)
    elif variant == "compile":
        ours = torch.compile(ours)
        ref = torch.compile(ref) if ref is not None else None

    def run_ours() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return ours(x)

    def run_ref() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return pair.call_ref(ref, x)

    try:
        out = run_ours().float()  # also the warm-up (and the compilation for torch.compile)
        diff = None
        if ref is not None:
            expected = run_ref().float()
            if pair.ref_softmax:
                out = out.softmax(dim=1)
            diff = (out - expected).abs().max().item()
        t_ours, t_ref = time_pair(
            run_ours,
            run_ref if ref is not None else None,
            min_runs=budget.min_runs,
            max_runs=budget.max_runs,
            budget_s=budget.seconds,
        )
    finally:
        if variant == "channels_last_3d":  # back to the default layout for the next variant
            pair.ours.to(memory_format=torch.contiguous_format)
            if pair.ref is not None:
                pair.ref.to(memory_format=torch.contiguous_format)
    return Row(
        pair.name,
        variant,
        batch,
        "x".join(map(str, pair.shape[1:])),
        batch / t_ours.seconds,
        batch / t_ref.seconds if t_ref else None,
        t_ours.peak_mb,
        t_ref.peak_mb if t_ref else None,
        diff,
        pair.note,
        cpu_ratio=t_ref.cpu_seconds / t_ours.cpu_seconds if t_ref and t_ours.cpu_seconds > 0 else None,
    )


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


HEADER = (
    "| model | variant | batch | input TxHxW | vidstruct clips/s | reference clips/s | ratio (CPU time) | "
    "vidstruct peak MB | reference peak MB | max abs diff | note |"
)


def print_header() -> None:
    print(HEADER)
    print("|" + "---|" * 11, flush=True)


def print_row(r: Row) -> None:
    cells = [
        r.model,
        r.variant,
        str(r.batch),
        r.input,
        _fmt(r.ours, ".3f"),
        _fmt(r.ref, ".3f"),
        _fmt(r.ratio, ".2f") + ("x" if r.ratio else ""),
        _fmt(r.ours_mb, ".0f"),
        _fmt(r.ref_mb, ".0f"),
        _fmt(r.diff, ".1e"),
        r.note,
    ]
    print("| " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller inputs, fewer runs (default)")
    mode.add_argument("--full", action="store_true", help="default model inputs, more runs, torch.compile")
    parser.add_argument("--models", default=",".join(CNN_MODELS + VIT_MODELS), help="comma-separated subset")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 quick, torch's in full)")
    parser.add_argument(
        "--variants", default="", help="comma-separated subset of fp32, channels_last_3d, bf16-autocast, compile"
    )
    args = parser.parse_args(argv)
    quick = not args.full
    threads = args.threads or (1 if quick else torch.get_num_threads())
    torch.set_num_threads(threads)
    timed = Budget(3, 10, 4.0) if quick else Budget(5, 20, 20.0)
    variants: list[tuple[str, tuple[int, ...], Budget]] = [
        ("fp32", (1, 4), timed),
        ("channels_last_3d", (1, 4), timed),
        ("bf16-autocast", (1,), Budget(1, 1, 0.0)),
    ]
    if not quick or "compile" in args.variants:
        variants.append(("compile", (1,), timed))
    if args.variants:
        chosen = {v.strip() for v in args.variants.split(",")}
        variants = [v for v in variants if v[0] in chosen]
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    what = "quick: T/2 frames, 112 px, >= 3 timed runs (bf16: 1)" if quick else "full: default inputs, >= 5 runs"
    print(f"mode {what}; torch {torch.__version__}, {threads} thread(s), {os.cpu_count()} CPUs, load avg {load}")
    print("clips/s: wall clock of the fastest of the interleaved runs; ratio: vidstruct / reference throughput")
    print("measured in process CPU time per call (robust to time descheduled under load); same weights and variant;")
    print("peak MB = growth of the process peak RSS during one forward\n")
    rows: list[Row] = []
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    print_header()
    with tempfile.TemporaryDirectory(prefix="vidstruct_bench_") as tmp:
        for name in names:
            try:
                pair = cnn_pair(name, quick) if name in CNN_MODELS else vivit_pair(name, quick, Path(tmp))
            except Exception as exc:  # a model another part of the project has not registered yet, a missing extra
                rows.append(Row(name, "-", 0, "-", None, None, None, None, None, f"skipped: {exc}"))
                print_row(rows[-1])
                continue
            for variant, batches, budget in variants:
                if variant == "channels_last_3d" and not pair.is_cnn:
                    continue
                for batch in batches:
                    try:
                        row = run_variant(pair, variant, batch, budget)
                    except Exception as exc:  # e.g. torch.compile unavailable
                        row = Row(name, variant, batch, "-", None, None, None, None, None, f"failed: {exc}")
                    rows.append(row)
                    print_row(row)
            del pair
            gc.collect()
    ratios = [r.ratio for r in rows if r.ratio]
    if ratios:
        print(f"\nratio vidstruct/reference: min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x")
    if hasattr(os, "getloadavg"):
        print("load avg at the end: " + " / ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
