"""What the synthetic world looks like: textured backgrounds and randomized actor appearance.

Appearance is sampled independently of the action label (shape, colour, size and angle come from the same
distribution whatever the class), so a still frame carries no label information.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHAPES: tuple[str, ...] = ("ellipse", "rectangle", "triangle", "diamond")
_ELLIPSE_SIDES = 24
_MIN_CONTRAST = 160.0  # L2 distance in RGB between an actor's colour and the background's mean colour


@dataclass(frozen=True)
class Actor:
    """A flat-coloured convex polygon.

    - ``vertices``: ``[K, 2]`` float64, a convex polygon (positive shoelace orientation) around the
      origin whose farthest vertex is at distance 1;
    - ``normals`` / ``offsets``: ``[K, 2]`` outward unit edge normals and ``[K]`` distances of the edges from
      the origin (``normals @ p <= offsets`` inside), derived from ``vertices``;
    - ``color``: ``[3]`` float RGB in ``[0, 255]``;
    - ``radius``: pixels; the polygon at scale 1 fits in a circle of this radius around the actor's centre.
    """

    shape: str
    vertices: np.ndarray
    normals: np.ndarray
    offsets: np.ndarray
    color: np.ndarray
    radius: float


def polygon(shape: str, aspect: float) -> np.ndarray:
    """Unit polygon ``[K, 2]`` of ``shape`` with width/height ratio ``aspect`` (< 1: elongated), centred on
    the origin, farthest vertex at distance 1."""
    if shape == "ellipse":
        theta = np.linspace(0.0, 2 * math.pi, _ELLIPSE_SIDES, endpoint=False)
        verts = np.stack([np.cos(theta), aspect * np.sin(theta)], axis=1)
    elif shape == "rectangle":
        verts = np.array([[-1.0, -aspect], [1.0, -aspect], [1.0, aspect], [-1.0, aspect]])
    elif shape == "triangle":  # isosceles, apex along +x, centred on its centroid
        verts = np.array([[1.0, 0.0], [-0.5, -aspect], [-0.5, aspect]])
        verts = verts - verts.mean(axis=0)
    elif shape == "diamond":
        verts = np.array([[1.0, 0.0], [0.0, aspect], [-1.0, 0.0], [0.0, -aspect]])
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    return verts / np.linalg.norm(verts, axis=1).max()


def make_actor(shape: str, aspect: float, color: np.ndarray, radius: float) -> Actor:
    """Build an :class:`Actor` (precomputes the edge normals used for drawing)."""
    verts = polygon(shape, aspect)
    area2 = float(np.sum(verts[:, 0] * np.roll(verts[:, 1], -1) - np.roll(verts[:, 0], -1) * verts[:, 1]))
    if area2 < 0:  # make the vertex order positive so that (ey, -ex) points outwards
        verts = verts[::-1].copy()
    edges = np.roll(verts, -1, axis=0) - verts
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = np.sum(normals * verts, axis=1)
    return Actor(shape, verts, normals, offsets, np.asarray(color, dtype=np.float64), float(radius))


def sample_color(rng: np.random.Generator, avoid: list[np.ndarray], min_distance: float = _MIN_CONTRAST) -> np.ndarray:
    """A random RGB colour at L2 distance >= ``min_distance`` from every colour in ``avoid`` (best of 64
    draws otherwise)."""
    best, best_d = None, -1.0
    for _ in range(64):
        color = rng.uniform(0.0, 255.0, size=3)
        d = min((float(np.linalg.norm(color - a)) for a in avoid), default=math.inf)
        if d >= min_distance:
            return color
        if d > best_d:
            best, best_d = color, d
    return best  # type: ignore[return-value]


def sample_actor(
    rng: np.random.Generator,
    size: int,
    avoid_colors: list[np.ndarray],
    radius_range: tuple[float, float] = (0.08, 0.14),
) -> Actor:
    """A random actor for a ``size`` x ``size`` frame: shape, aspect, colour (contrasting with
    ``avoid_colors``) and base radius ``uniform(radius_range) * size`` pixels."""
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    aspect = rng.uniform(0.4, 0.65)
    color = sample_color(rng, avoid_colors)
    radius = rng.uniform(*radius_range) * size
    return make_actor(shape, aspect, color, radius)


def _upsample_matrix(n_out: int, n_in: int) -> np.ndarray:
    """``[n_out, n_in]`` linear-interpolation matrix (pixel centres aligned)."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


def make_background(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured background: a random base colour plus a few octaves of smooth noise.

    Returns ``(image, base_color)``: float32 ``[H, W, 3]`` in ``[0, 255]`` and float ``[3]``.
    """
    base = rng.uniform(70.0, 185.0, size=3)
    image = np.broadcast_to(base, (height, width, 3)).astype(np.float64)
    for cells, amplitude in ((4, 12.0), (8, 8.0), (16, 6.0), (32, 4.0)):
        gh, gw = min(cells, height), min(cells, width)
        luma = rng.standard_normal((gh, gw))
        chroma = rng.standard_normal((gh, gw, 3)) * 0.4
        my, mx = _upsample_matrix(height, gh), _upsample_matrix(width, gw)
        field = np.moveaxis(luma[..., None] + chroma, 2, 0)  # [3, gh, gw]
        image += amplitude * np.moveaxis(my @ field @ mx.T, 0, 2)
    return np.clip(image, 0.0, 255.0).astype(np.float32), base
