"""BMN's boundary-matching layer: sparse gather (ours) vs the reference's dense sampling-mask product, CPU.

Rows (``T = D``, ``N = 32`` sample points, ``K = 3`` sub-samples, ratio 0.5):

- ``bm``: the BM layer alone, snippet features ``[B, C, T]`` → BM map
  ``[B, C, N, D, T]``: ``dense`` = :class:`DenseBMLayer` (the reference's
  ``x @ mask[T, N·D·T]``), ``gather`` = :class:`BMLayer` (``embedding_bag``
  over the ≤ 2K non-zero taps, transposed-bag backward);
- ``bm+conv3d``: BM layer followed by BMN's ``Conv3d(C, H, (N, 1, 1))`` (what
  BMN actually computes): ``dense`` (reference) vs ``fused``
  (:class:`BoundaryMatchingConv`, chunked, never stores the BM map).

Each (row, variant, T) runs in its own subprocess. ``peak MB`` is the
layer's footprint in a training step: its sampling buffers (mask or tables,
computed from the tensors) plus the growth of the process's peak resident
set over one forward + backward (``VmHWM`` after ``/proc/self/clear_refs``
reset it, minus ``VmRSS`` before), with the input and the upstream gradient
allocated beforehand. CPU PyTorch serves large tensors from ``mmap``-backed
allocations returned to the OS when freed, so the peak RSS is the peak of
live tensors (``tracemalloc`` does not see them). ``build MB`` is the same
growth while constructing the layer (once per model). Time is the median of
the timed forward + backward passes after one warm-up, with 1 torch CPU
thread by default (``--threads``): on a shared machine, multi-threaded
small kernels mostly measure waiting for cores. ``ratio`` = dense ÷ ours
(> 1: ours is smaller / faster). The upstream gradient is a contiguous
``[B, C, N, D, T]`` (or ``[B, H, D, T]``) tensor for both variants, as a
following ``conv3d`` gives.

``--quick`` (default in ``make bench``): B = 1, C = 32 (H = 32), 1 timed run.
``--full``: ``bm`` at B = 4, C = 128; ``bm+conv3d`` at B = 2, C = 64, H = 128
(BMN uses C = 256, H = 512; the reference's ``conv3d`` on the BM map needs
several times the map in buffers, too much for a small machine at T = 200);
3 timed runs.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def worker(row: str, variant: str, t: int, b: int, c: int, h: int, repeats: int, threads: int) -> dict[str, Any]:
    """Measure one configuration in this process (see module doc)."""
    if str(ROOT / "src") not in sys.path:
        sys.path.insert(0, str(ROOT / "src"))
    import torch

    torch.set_num_threads(threads)

    from vidstruct.models.localization.bm_layer import BMGeometry, BMLayer, BoundaryMatchingConv, DenseBMLayer

    torch.manual_seed(0)
    g = BMGeometry(t)
    x = torch.randn(b, c, t, requires_grad=True)
    out_shape = (b, c, g.N, g.D, g.T) if row == "bm" else (b, h, g.D, g.T)
    upstream = torch.randn(out_shape)

    def build() -> torch.nn.Module:
        if row == "bm":
            return DenseBMLayer(g) if variant == "dense" else BMLayer(g)
        return BoundaryMatchingConv(c, h, g, impl="dense" if variant == "dense" else "fused")

    def reset() -> int:
        _trim()
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS")

    base = reset()
    start = time.perf_counter()
    layer = build()
    build_s = time.perf_counter() - start
    build_mb = (_status_kb("VmHWM") - base) / 1024
    buffers_mb = sum(t_.numel() * t_.element_size() for t_ in layer.buffers()) / 2**20
    base = reset()
    out = layer(x)
    out.backward(upstream)
    step_mb = (_status_kb("VmHWM") - base) / 1024
    del out
    fwd, bwd = [], []
    for _ in range(repeats):  # the measured pass above was the warm-up
        x.grad = None
        t0 = time.perf_counter()
        out = layer(x)
        t1 = time.perf_counter()
        out.backward(upstream)
        t2 = time.perf_counter()
        del out
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
    return {
        "row": row,
        "variant": variant,
        "T": t,
        "peak_mb": buffers_mb + step_mb,
        "build_mb": build_mb,
        "buffers_mb": buffers_mb,
        "output_mb": torch.Size(out_shape).numel() * 4 / 2**20,
        "build_s": build_s,
        "fwd_s": statistics.median(fwd),
        "bwd_s": statistics.median(bwd),
        "threads": torch.get_num_threads(),
    }


def _run(row: str, variant: str, t: int, b: int, c: int, h: int, repeats: int, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", json.dumps([row, variant, t, b, c, h, repeats, threads])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {row}/{variant}/T={t} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, 1 timed run (default)")
    mode.add_argument("--full", action="store_true", help="B=4, C=128 (bm); B=2, C=64, H=128 (bm+conv3d); 3 runs")
    parser.add_argument("--scales", default="100,200", help="comma-separated T values")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (default 1)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*json.loads(args.worker))))
        return 0
    # (B, C, H) per row; dense bm+conv3d at T=200 needs ~5x its BM map in conv3d buffers, hence the smaller batch
    sizes = (
        {"bm": (4, 128, 0), "bm+conv3d": (2, 64, 128)} if args.full else {"bm": (1, 32, 0), "bm+conv3d": (1, 32, 32)}
    )
    repeats = 3 if args.full else 1
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    print(f"N=32, K=3, D=T; sizes (B, C, H): {sizes}; median of {repeats} timed run(s) after a warm-up\n")
    header = (
        "| row | T | B | C | H | variant | fwd s | bwd s | fwd+bwd s | peak MB | buffers MB | build MB | output MB "
        "| time ratio | peak ratio | buffer ratio |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    threads = args.threads
    for row, ours in (("bm", "gather"), ("bm+conv3d", "fused")):
        b, c, h = sizes[row]
        for t in scales:
            dense = _run(row, "dense", t, b, c, h, repeats, args.threads)
            mine = _run(row, ours, t, b, c, h, repeats, args.threads)
            for r in (dense, mine):
                total = r["fwd_s"] + r["bwd_s"]
                ratios = ("", "", "")
                if r is mine:
                    d_total = dense["fwd_s"] + dense["bwd_s"]
                    ratios = (
                        f"{d_total / total:.2f}x",
                        f"{dense['peak_mb'] / max(r['peak_mb'], 1e-9):.2f}x",
                        f"{dense['buffers_mb'] / max(r['buffers_mb'], 1e-9):.1f}x",
                    )
                print(
                    f"| {row} | {t} | {b} | {c} | {h or '-'} | {r['variant']} | {r['fwd_s']:.3f} | {r['bwd_s']:.3f} | "
                    f"{total:.3f} | {r['peak_mb']:.0f} | {r['buffers_mb']:.1f} | {r['build_mb']:.0f} | "
                    f"{r['output_mb']:.0f} | " + " | ".join(ratios) + " |",
                    flush=True,
                )
    print(f"\ntorch CPU threads: {threads}; peak = buffers + growth of peak RSS over one forward + backward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
