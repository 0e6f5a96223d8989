"""MoSI label spaces: which pseudo-motion speeds are generated and how they are labelled.

A *speed* is a pair ``(sx, sy)`` of integers in ``[-m, m]`` with ``m = num_speeds // 2``
(default ``num_speeds = 5``: ``-2, -1, 0, 1, 2``). It describes how the **crop window** moves
over the source image during the clip: ``sx > 0`` moves the window right (+x, increasing
column), ``sy > 0`` moves it down (+y, increasing row); speed ``s`` moves the window by
``s / m × (square_size − crop_size)`` pixels between the first and the last frame. The
*content* therefore moves the opposite way in the clip (window right → content shifts left).

Speed sets (MoSI, Huang et al. CVPR 2021):

- ``decouple=True`` (default, the paper's recipe): only one axis moves per clip. Order:
  x-motions ``(-m, 0) … (m, 0)`` without 0, then y-motions ``(0, -m) … (0, m)`` without 0,
  then the static clip ``(0, 0)`` last (when ``include_static``). Default: 4 + 4 + 1 = 9.
- ``decouple=False``: every pair, x-major (``(-m, -m), (-m, -m+1), …``), static last: 25.

Label modes:

- ``"joint"``: one head; the label of a clip is its index in the speed set (``[L]`` int64).
- ``"separate"``: two heads (:data:`SEPARATE_HEADS`), one class per speed of each axis:
  label ``s + m`` in ``[0, num_speeds)`` (``[L, 2]`` int64, column 0 = x, column 1 = y).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from vidstruct.errors import ConfigError

LabelMode = Literal["joint", "separate"]
SEPARATE_HEADS: tuple[str, str] = ("move_x", "move_y")
"""Head names of the separate mode (keys of the per-head label dict), x first."""


@dataclass(frozen=True)
class MotionLabelSpace:
    """The set of speeds of one MoSI setup and their labels (see module doc)."""

    num_speeds: int = 5
    mode: LabelMode = "joint"
    decouple: bool = True
    include_static: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.num_speeds, int) or self.num_speeds < 3 or self.num_speeds % 2 == 0:
            raise ConfigError(f"mosi num_speeds must be an odd integer >= 3 (e.g. 5: -2..2), got {self.num_speeds!r}")
        if self.mode not in ("joint", "separate"):
            raise ConfigError(f"mosi label mode must be 'joint' or 'separate', got {self.mode!r}")

    @property
    def max_speed(self) -> int:
        """``m``: the largest speed; speed ``m`` crosses the whole available distance over the clip."""
        return self.num_speeds // 2

    @property
    def speeds(self) -> tuple[tuple[int, int], ...]:
        """``(sx, sy)`` of every generated clip, in label order (static last)."""
        m = self.max_speed
        axis = [s for s in range(-m, m + 1) if s != 0]
        if self.decouple:
            moving = [(s, 0) for s in axis] + [(0, s) for s in axis]
        else:
            moving = [(x, y) for x in range(-m, m + 1) for y in range(-m, m + 1) if (x, y) != (0, 0)]
        return tuple(moving + ([(0, 0)] if self.include_static else []))

    def __len__(self) -> int:
        return len(self.speeds)

    @property
    def num_classes(self) -> int | tuple[int, int]:
        """Joint: number of speeds ``L``; separate: ``(num_speeds, num_speeds)`` classes of the x and y heads."""
        return len(self) if self.mode == "joint" else (self.num_speeds, self.num_speeds)

    def label_of(self, speed: tuple[int, int]) -> int | tuple[int, int]:
        """The label of speed ``(sx, sy)``: its index (joint) or ``(sx + m, sy + m)`` (separate)."""
        sx, sy = int(speed[0]), int(speed[1])
        if self.mode == "separate":
            m = self.max_speed
            if abs(sx) > m or abs(sy) > m:
                raise ConfigError(f"speed {(sx, sy)} outside [-{m}, {m}]")
            return (sx + m, sy + m)
        try:
            return self.speeds.index((sx, sy))
        except ValueError:
            raise ConfigError(f"speed {(sx, sy)} is not in this MoSI speed set {list(self.speeds)}") from None

    def speed_of(self, label: int | tuple[int, int] | torch.Tensor) -> tuple[int, int]:
        """Inverse of :meth:`label_of`."""
        if self.mode == "separate":
            lx, ly = (int(v) for v in torch.as_tensor(label).reshape(2))
            return (lx - self.max_speed, ly - self.max_speed)
        return self.speeds[int(label)]

    def labels(self) -> torch.Tensor:
        """Labels of all speeds in order: int64 ``[L]`` (joint) or ``[L, 2]`` (separate, columns x, y)."""
        if self.mode == "joint":
            return torch.arange(len(self), dtype=torch.int64)
        return torch.tensor([self.label_of(s) for s in self.speeds], dtype=torch.int64).reshape(-1, 2)

    def mirrored_index(self, index: int) -> int:
        """Index of the speed ``(-sx, sy)``: the clip a horizontal flip of clip ``index`` would show."""
        sx, sy = self.speeds[index]
        return self.speeds.index((-sx, sy))

    def class_names(self) -> list[str] | dict[str, list[str]]:
        """Joint: one name per label (``"x-2"``, ``"y+1"``, ``"x+1,y-2"``, ``"static"``); separate: per head."""
        if self.mode == "separate":
            axis = [f"{s:+d}" if s else "0" for s in range(-self.max_speed, self.max_speed + 1)]
            return {SEPARATE_HEADS[0]: [f"x{a}" for a in axis], SEPARATE_HEADS[1]: [f"y{a}" for a in axis]}
        names = []
        for sx, sy in self.speeds:
            parts = ([f"x{sx:+d}"] if sx else []) + ([f"y{sy:+d}"] if sy else [])
            names.append(",".join(parts) or "static")
        return names
