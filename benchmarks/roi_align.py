"""The detector's RoI path (``vidstruct.models.detection.roi.roi_features``: torchvision's RoIAlign + max pool)
against a straightforward per-box implementation of the same algorithm, on one feature map.

The per-box reference (:func:`reference_roi_features`) follows RoIAlign as Detectron2 / torchvision define it
(``aligned=True``: coordinates shifted by half a cell; adaptive sampling ``ceil(roi size / bins)`` points per bin
side; bilinear samples averaged per bin; samples more than one cell outside the map are 0), written as plain
loops over boxes, bins and samples. The benchmark checks that both agree (max abs difference), then times them.

    python benchmarks/roi_align.py [--boxes 64] [--channels 256] [--size 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from vidstruct.models.detection.roi import roi_features


def _bilinear(fmap: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """``[C]`` value of ``fmap`` ``[C, H, W]`` at ``(y, x)`` (cell-centre coordinates), RoIAlign's border rule."""
    h, w = fmap.shape[-2:]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return fmap.new_zeros(fmap.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    return hy * hx * fmap[:, y0, x0] + hy * lx * fmap[:, y0, x1] + ly * hx * fmap[:, y1, x0] + ly * lx * fmap[:, y1, x1]


def reference_roi_features(
    fmap: torch.Tensor, boxes: torch.Tensor, batch_index: torch.Tensor, size: int
) -> torch.Tensor:
    """Per-box loops: ``[R, C]`` max over the ``size × size`` RoIAlign bins (normalized boxes, see module doc)."""
    h, w = fmap.shape[-2:]
    out = []
    for box, b in zip(boxes.tolist(), batch_index.tolist()):
        x1, y1, x2, y2 = box[0] * w - 0.5, box[1] * h - 0.5, box[2] * w - 0.5, box[3] * h - 0.5
        bin_h, bin_w = (y2 - y1) / size, (x2 - x1) / size
        gy, gx = max(1, math.ceil((y2 - y1) / size)), max(1, math.ceil((x2 - x1) / size))
        bins = []
        for py in range(size):
            for px in range(size):
                acc = fmap.new_zeros(fmap.shape[1])
                for iy in range(gy):
                    for ix in range(gx):
                        y = y1 + py * bin_h + (iy + 0.5) * bin_h / gy
                        x = x1 + px * bin_w + (ix + 0.5) * bin_w / gx
                        acc = acc + _bilinear(fmap[b], y, x)
                bins.append(acc / (gy * gx))
        out.append(torch.stack(bins).amax(dim=0))
    return torch.stack(out)


def random_boxes(n: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, 4]`` normalized boxes of 5-60% of the frame side."""
    wh = 0.05 + 0.55 * torch.rand(n, 2, generator=generator)
    xy = torch.rand(n, 2, generator=generator) * (1 - wh)
    return torch.cat([xy, xy + wh], dim=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--boxes", type=int, default=64)
    p.add_argument("--channels", type=int, default=256)
    p.add_argument("--size", type=int, default=16, help="feature map H = W")
    p.add_argument("--grid", type=int, default=7, help="RoIAlign output grid")
    p.add_argument("--batch", type=int, default=8, help="clips in the feature map")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn(args.batch, args.channels, args.size, args.size, generator=g)
    boxes = random_boxes(args.boxes, g)
    index = torch.randint(0, args.batch, (args.boxes,), generator=g)
    fast = roi_features(fmap, boxes, index, args.grid)
    ref = reference_roi_features(fmap, boxes, index, args.grid)
    diff = (fast - ref).abs().max().item()

    def timed(fn: object) -> float:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn(fmap, boxes, index, args.grid)  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    t_fast, t_ref = timed(roi_features), timed(reference_roi_features)
    print(f"RoI features of {args.boxes} boxes on [{args.batch}, {args.channels}, {args.size}, {args.size}], "
          f"{args.grid}x{args.grid} grid, 1 thread, median of {args.repeats}")  # fmt: skip
    print(f"{'implementation':38s} {'seconds':>9s} {'ratio':>7s}")
    print(f"{'torchvision roi_align + max (vidstruct)':38s} {t_fast:9.5f} {1.0:7.2f}")
    print(f"{'per-box loops (reference)':38s} {t_ref:9.5f} {t_ref / t_fast:7.1f}x")
    print(f"max |difference| = {diff:.2e}")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
