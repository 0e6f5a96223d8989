"""Procedurally generated textured images for offline MoSI (no data set needed).

``procedural_image(seed, index, height, width)`` is a deterministic function of its
arguments (numpy ``default_rng([seed, index])``): a colour gradient, 1/f ("pink") noise
that looks like natural image texture and is aperiodic at every scale, a few Gabor patches
and Gaussian blobs, and semi-opaque coloured shapes (rectangles, ellipses, triangles) with
hard edges. Every region has texture a moving window can be tracked on (no flat areas).
"""

from __future__ import annotations

import numpy as np
import torch

from vidstruct.errors import ConfigError


def procedural_image(seed: int, index: int, height: int = 160, width: int = 160) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` RGB textured image number ``index`` of the family ``seed``."""
    if height < 8 or width < 8:
        raise ConfigError(f"procedural images need at least 8x8 pixels, got {width}x{height}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index) & 0xFFFFFFFF])
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = float(max(height, width))
    # 1. gradient between two colours at a random angle
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / scale
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    c0, c1 = rng.uniform(0, 1, (2, 3)).astype(np.float32)
    img = c0 + ramp[..., None] * (c1 - c0)
    # 2. pink noise, independently coloured
    img += 0.45 * _pink_noise(rng, height, width)
    # 3. Gabor patches
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        sigma = rng.uniform(0.08, 0.3) * scale
        wavelength = rng.uniform(4, 24)
        theta, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
        env = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
        img += (env * np.cos(2 * np.pi * u / wavelength + phase))[..., None] * rng.uniform(-0.25, 0.25, 3)
    # 4. soft blobs
    for _ in range(int(rng.integers(2, 6))):
        cx, cy, sigma = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.03, 0.15) * scale
        env = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
        img += env[..., None] * rng.uniform(-0.5, 0.5, 3)
    # 5. shapes with hard edges, semi-opaque so the texture below stays visible (no flat regions)
    for _ in range(int(rng.integers(3, 9))):
        inside = _shape_mask(rng, xx, yy, scale)
        alpha = rng.uniform(0.4, 0.7)
        img[inside] = alpha * rng.uniform(0, 1, 3) + (1 - alpha) * img[inside]
    img = (img - img.min()) / max(float(np.ptp(img)), 1e-6)
    return torch.from_numpy(np.ascontiguousarray((img * 255).round().clip(0, 255).astype(np.uint8)))


def _pink_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """float32 ``[H, W, 3]`` noise with a 1/f amplitude spectrum, zero mean, unit max-abs."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    out = np.empty((height, width, 3), np.float32)
    for c in range(3):
        spectrum = np.fft.rfft2(rng.standard_normal((height, width))) / f
        spectrum[0, 0] = 0
        out[..., c] = np.fft.irfft2(spectrum, s=(height, width))
    return out / max(float(np.abs(out).max()), 1e-6)


def _shape_mask(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray, scale: float) -> np.ndarray:
    """bool ``[H, W]`` inside a random rectangle, ellipse or triangle."""
    h, w = xx.shape
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    rx, ry = rng.uniform(0.04, 0.18, 2) * scale
    kind = rng.integers(0, 3)
    theta = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
    if kind == 0:
        return (np.abs(u) <= rx) & (np.abs(v) <= ry)
    if kind == 1:
        return (u / rx) ** 2 + (v / ry) ** 2 <= 1
    return (v >= -ry) & (v <= ry) & (np.abs(u) <= rx * (ry - v) / (2 * ry))
