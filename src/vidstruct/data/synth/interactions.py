"""Two-actor interactions of the detect task: approach, pass by, hand an object over.

Each function returns the tracks of the two actors (and of the handed object) over the times ``t``
(seconds, ``[T]``), placed so that every actor's bounding circle (``radii``, pixels) stays inside the
``size`` x ``size`` frame with ``margin`` pixels to spare, or ``None`` when the sampled geometry does not
fit. The actors never overlap: their centres stay farther apart than the sum of their radii.
"""

from __future__ import annotations

import math

import numpy as np

from vidstruct.data.synth.actions import Track, fit_interval


def place(
    rng: np.random.Generator,
    offsets: list[np.ndarray],
    radii: list[float],
    size: int,
    margin: float,
    angles: list[float] | None = None,
) -> list[Track] | None:
    """Place a group that moves rigidly with respect to one anchor point.

    ``offsets[i]`` is ``[T, 2]``: actor ``i``'s centre relative to the anchor (pixels). Samples the anchor
    uniformly among the positions that keep every actor inside the frame; returns one track per actor
    (scale 1, constant angle ``angles[i]``), or ``None`` when no anchor fits.
    """
    lo = np.full(2, -math.inf)
    hi = np.full(2, math.inf)
    for off, r in zip(offsets, radii):
        for axis in range(2):
            a, b = fit_interval(off[:, axis], np.full(len(off), r), size, margin)
            lo[axis], hi[axis] = max(lo[axis], a), min(hi[axis], b)
    if np.any(lo > hi):
        return None
    anchor = rng.uniform(lo, hi)
    angles = angles if angles is not None else [0.0] * len(offsets)
    tracks = []
    for off, angle in zip(offsets, angles):
        n = len(off)
        tracks.append(
            Track(anchor[0] + off[:, 0], anchor[1] + off[:, 1], np.ones(n), np.full(n, angle), np.ones(n, dtype=bool))
        )
    return tracks


def _direction(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    theta = rng.uniform(0.0, 2 * math.pi)
    u = np.array([math.cos(theta), math.sin(theta)])
    return u, np.array([-u[1], u[0]])


def approach(
    rng: np.random.Generator, t: np.ndarray, radii: tuple[float, float], size: int, margin: float
) -> list[Track] | None:
    """Both actors move towards each other along a random direction at constant speed, ending close."""
    u, _ = _direction(rng)
    span = float(t[-1]) or 1.0
    end = sum(radii) + rng.uniform(0.04, 0.12) * size
    travel = rng.uniform(0.25, 0.5) * size
    dist = end + travel * (1.0 - t / span)  # [T] distance between the centres
    offsets = [-0.5 * dist[:, None] * u, 0.5 * dist[:, None] * u]
    return place(rng, offsets, list(radii), size, margin, list(rng.uniform(0, 2 * math.pi, 2)))


def pass_by(
    rng: np.random.Generator, t: np.ndarray, radii: tuple[float, float], size: int, margin: float
) -> list[Track] | None:
    """The actors move in opposite directions on parallel lanes and pass each other at mid-clip."""
    u, n = _direction(rng)
    span = float(t[-1]) or 1.0
    lane = sum(radii) * rng.uniform(1.15, 1.5)
    along = rng.uniform(0.35, 0.6) * size * (t / span - 0.5)  # [T]
    offsets = [along[:, None] * u - 0.5 * lane * n, -along[:, None] * u + 0.5 * lane * n]
    return place(rng, offsets, list(radii), size, margin, list(rng.uniform(0, 2 * math.pi, 2)))


def hand_over(
    rng: np.random.Generator, t: np.ndarray, radii: tuple[float, float], prop_radius: float, size: int, margin: float
) -> list[Track] | None:
    """Two still actors; a small object rests on the first, travels to the second, rests there.

    Returns ``[giver, receiver, object]`` tracks.
    """
    u, _ = _direction(rng)
    span = float(t[-1]) or 1.0
    dist = sum(radii) + rng.uniform(0.08, 0.2) * size
    n = len(t)
    giver = np.tile(-0.5 * dist * u, (n, 1))
    receiver = np.tile(0.5 * dist * u, (n, 1))
    src = giver[0] + 0.5 * radii[0] * u
    dst = receiver[0] - 0.5 * radii[1] * u
    progress = np.clip((t / span - 0.2) / 0.6, 0.0, 1.0)[:, None]  # rests 20% of the clip at each end
    prop = src + progress * (dst - src)
    angles = [*rng.uniform(0, 2 * math.pi, 2), 0.0]
    return place(rng, [giver, receiver, prop], [radii[0], radii[1], prop_radius], size, margin, angles)
