"""Test helpers for MoSI: an independent motion estimator working on pixels only.

``clip_steps(clip, box)`` finds, for every pair of consecutive frames ``a = clip[:, t]``,
``b = clip[:, t + 1]``, the displacement ``Δ = (Δx, Δy)`` with ``b[y, x] ≈ a[y + Δy, x + Δx]``
for pixels inside ``box``: brute-force search of the mean squared difference over integer
shifts, then a parabola through the neighbours of the best shift for sub-pixel precision.
For a crop window moving by ``Δ`` between two frames this is exactly ``Δ``; the image
*content* moves by ``−Δ`` in the clip.
"""

from __future__ import annotations

import torch


def _ssd(clip: torch.Tensor, box: tuple[int, int, int, int], dx: int, dy: int) -> torch.Tensor:
    """float ``[T-1]``: mean squared difference of ``b[y, x]`` and ``a[y + dy, x + dx]`` over the box overlap."""
    x1, y1, x2, y2 = box
    xa, xb = max(x1, x1 - dx), min(x2, x2 - dx)
    ya, yb = max(y1, y1 - dy), min(y2, y2 - dy)
    t = clip.shape[1] - 1
    if xb - xa < 4 or yb - ya < 4:
        return torch.full((t,), float("inf"))
    b = clip[:, 1:, ya:yb, xa:xb]
    a = clip[:, :-1, ya + dy : yb + dy, xa + dx : xb + dx]
    return (b - a).pow(2).mean(dim=(0, 2, 3))


def _refine(c_minus: torch.Tensor, c0: torch.Tensor, c_plus: torch.Tensor) -> torch.Tensor:
    denom = c_minus - 2 * c0 + c_plus
    ok = torch.isfinite(c_minus) & torch.isfinite(c_plus) & (denom > 0)
    frac = torch.where(ok, 0.5 * (c_minus - c_plus) / torch.where(ok, denom, torch.ones_like(denom)), 0.0)
    return frac.clamp(-0.5, 0.5)


def clip_steps(clip: torch.Tensor, box: tuple[int, int, int, int], max_shift: int = 6) -> torch.Tensor:
    """float ``[T-1, 2]``: window steps ``(Δx, Δy)`` between consecutive frames of ``clip [C, T, H, W]``."""
    n = 2 * max_shift + 1
    shifts = range(-max_shift, max_shift + 1)
    costs = torch.stack([torch.stack([_ssd(clip, box, dx, dy) for dx in shifts]) for dy in shifts])  # [dy, dx, T-1]
    flat = costs.reshape(n * n, -1)
    best = flat.argmin(0)
    iy, ix = best // n, best % n
    pad = torch.nn.functional.pad(costs.permute(2, 0, 1), (1, 1, 1, 1), value=float("inf"))  # [T-1, n+2, n+2]
    pairs = torch.arange(costs.shape[-1])
    c0 = pad[pairs, iy + 1, ix + 1]
    fx = _refine(pad[pairs, iy + 1, ix], c0, pad[pairs, iy + 1, ix + 2])
    fy = _refine(pad[pairs, iy, ix + 1], c0, pad[pairs, iy + 2, ix + 1])
    return torch.stack([ix - max_shift + fx, iy - max_shift + fy], dim=1)


def outside(box: tuple[int, int, int, int] | list[int], height: int, width: int) -> torch.Tensor:
    """bool ``[H, W]``: True outside ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    mask = torch.ones(height, width, dtype=torch.bool)
    mask[y1:y2, x1:x2] = False
    return mask
