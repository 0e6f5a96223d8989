"""Motion models of the synthetic actors: the action vocabulary and pose as a function of time.

A pose is the actor's centre ``(cx, cy)`` in pixels (x to the right, y down, origin at the top-left corner
of the frame, pixel ``(i, j)`` covering ``[j, j+1] x [i, i+1]``), a scale factor (1 = the actor's base
radius) and an angle in radians. Because y points down, an increasing angle turns the actor clockwise on
screen.

Every action is defined by motion only: a still frame of any class is drawn from the same distribution
(actor shape, colour, size, angle and, over the clip, position), so only the change between frames tells
the classes apart. Start positions are chosen so that the actor's bounding circle stays inside the frame
(with a margin) for the whole clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Single-actor actions (classify, localize and detect).
ACTIONS: tuple[str, ...] = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "grow",
    "shrink",
    "rotate_cw",
    "rotate_ccw",
    "bounce",
    "stay_still",
)
#: Actions of the localize task: ``stay_still`` is what the background looks like there, so it is no action.
LOCALIZE_ACTIONS: tuple[str, ...] = tuple(a for a in ACTIONS if a != "stay_still")
#: Two-actor interactions of the detect task (both actors carry the label; give/receive name the roles).
INTERACTIONS: tuple[str, ...] = ("approach", "pass_by", "give_object", "receive_object")
#: Label vocabulary of the detect task (AVA action ids are 1-based indices into this tuple).
DETECT_ACTIONS: tuple[str, ...] = ACTIONS + INTERACTIONS

_DIRECTIONS = {"move_left": (-1.0, 0.0), "move_right": (1.0, 0.0), "move_up": (0.0, -1.0), "move_down": (0.0, 1.0)}
_GROWTH_RANGE = (1.8, 2.6)  # final / initial scale of grow (inverse for shrink)
_TURN_RATE_DEG_S = (120.0, 240.0)  # rotation speed
_MAX_TURN_DEG_PER_FRAME = 20.0  # stays well below the 45 deg symmetry of a square: no aliasing
_BOUNCE_PERIOD_S = (0.5, 1.0)
_TRAVEL_FRACTION = (0.45, 0.9)  # share of the free room a move / bounce covers


@dataclass(frozen=True)
class Pose:
    """One pose: centre ``(cx, cy)`` in pixels, scale factor, angle in radians (clockwise on screen)."""

    cx: float
    cy: float
    scale: float = 1.0
    angle: float = 0.0


@dataclass
class Track:
    """Per-frame poses of one actor; every field is a ``[T]`` array (``visible`` is bool)."""

    cx: np.ndarray
    cy: np.ndarray
    scale: np.ndarray
    angle: np.ndarray
    visible: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.cx.shape[0])

    def pose(self, frame: int) -> Pose:
        """The pose at ``frame``."""
        return Pose(float(self.cx[frame]), float(self.cy[frame]), float(self.scale[frame]), float(self.angle[frame]))

    @classmethod
    def still(cls, pose: Pose, num_frames: int, visible: bool = True) -> Track:
        """A track that holds ``pose`` for ``num_frames`` frames."""
        full = lambda v: np.full(num_frames, v, dtype=np.float64)  # noqa: E731
        return cls(full(pose.cx), full(pose.cy), full(pose.scale), full(pose.angle), np.full(num_frames, visible))

    @classmethod
    def concat(cls, tracks: list[Track]) -> Track:
        """Join tracks end to end (frames of the first, then of the second...)."""
        cat = lambda name: np.concatenate([getattr(t, name) for t in tracks])  # noqa: E731
        return cls(cat("cx"), cat("cy"), cat("scale"), cat("angle"), cat("visible"))


def fit_interval(offsets: np.ndarray, radii: np.ndarray, size: int, margin: float) -> tuple[float, float]:
    """Range ``[lo, hi]`` of a start coordinate ``c0`` such that ``c0 + offsets[t]`` keeps a circle of
    radius ``radii[t]`` inside ``[margin, size - margin]`` for every ``t``; ``lo > hi`` when none exists."""
    lo = float(np.max(margin + radii - offsets))
    hi = float(np.min(size - margin - radii - offsets))
    return lo, hi


def plan_motion(
    action: str,
    rng: np.random.Generator,
    t: np.ndarray,
    *,
    size: int,
    radius: float,
    margin: float,
    start: Pose | None = None,
    min_radius: float = 0.0,
    tries: int = 4,
) -> Track | None:
    """Sample a trajectory of ``action`` over the times ``t`` (seconds, ``[T]``, starting at 0).

    - ``radius``: the actor's base radius in pixels (its bounding circle at scale 1);
    - ``start``: continue from this pose (localize: the actor stood still there); ``None`` samples a start
      so that the actor stays inside the ``size`` x ``size`` frame, ``margin`` pixels from the border;
    - ``min_radius``: pixels; the actor may not shrink below it (from ``start``: the motion is refused).

    Returns the track (all frames visible), or ``None`` when the action cannot be done from ``start``
    without leaving the frame (after ``tries`` samples of the motion parameters).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    t = np.asarray(t, dtype=np.float64)
    span = float(t[-1]) if t[-1] > 0 else 1.0
    fps = (len(t) - 1) / span if len(t) > 1 else 25.0
    for _ in range(tries):
        track = _sample_once(action, rng, t, span, fps, size=size, radius=radius, margin=margin, start=start)
        if track is not None and float(track.scale.min()) * radius < min_radius - 1e-9:
            track = None
        if track is not None:
            return track
    return None


def _sample_once(
    action: str,
    rng: np.random.Generator,
    t: np.ndarray,
    span: float,
    fps: float,
    *,
    size: int,
    radius: float,
    margin: float,
    start: Pose | None,
) -> Track | None:
    zeros = np.zeros_like(t)
    log_scale, dangle, dx, dy = zeros, zeros, zeros, zeros
    if action in ("grow", "shrink"):
        growth = math.log(rng.uniform(*_GROWTH_RANGE)) * (1.0 if action == "grow" else -1.0)
        log_scale = growth * t / span
        scale0 = start.scale if start is not None else math.exp(-growth / 2)  # geometric mean scale is 1
    else:
        scale0 = start.scale if start is not None else 1.0
    radii = radius * scale0 * np.exp(log_scale)
    room = size - 2 * margin - 2 * float(radii.max())
    if room < 0:
        return None
    frac = rng.uniform(*_TRAVEL_FRACTION)
    if action in _DIRECTIONS:
        ux, uy = _DIRECTIONS[action]
        dx, dy = ux * frac * room * t / span, uy * frac * room * t / span
    elif action == "bounce":
        period = rng.uniform(*_BOUNCE_PERIOD_S)
        dy = -frac * room * np.abs(np.sin(math.pi * t / period))
    elif action in ("rotate_cw", "rotate_ccw"):
        rate = min(rng.uniform(*_TURN_RATE_DEG_S), _MAX_TURN_DEG_PER_FRAME * fps)
        dangle = math.radians(rate) * t * (1.0 if action == "rotate_cw" else -1.0)
    lo_x, hi_x = fit_interval(dx, radii, size, margin)
    lo_y, hi_y = fit_interval(dy, radii, size, margin)
    if lo_x > hi_x or lo_y > hi_y:
        return None
    if start is None:
        x0, y0, angle0 = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y), rng.uniform(0.0, 2 * math.pi)
    else:
        eps = 1e-9
        if not (lo_x - eps <= start.cx <= hi_x + eps and lo_y - eps <= start.cy <= hi_y + eps):
            return None
        x0, y0, angle0 = start.cx, start.cy, start.angle
    return Track(
        cx=x0 + dx,
        cy=y0 + dy,
        scale=scale0 * np.exp(log_scale),
        angle=angle0 + dangle,
        visible=np.ones(len(t), dtype=bool),
    )
