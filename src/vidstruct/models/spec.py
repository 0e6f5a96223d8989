"""What a model expects as input, carried by models and checkpoints.

A checkpoint stores :meth:`InputSpec.to_dict` so that inference can rebuild
the exact preprocessing without the training config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class InputSpec:
    """Default input of a model.

    - ``num_frames``: frames per clip (T of ``[B, C, T, H, W]``);
    - ``frame_interval``: source frames between sampled frames at ``target_fps``
      (``None``: the video's own fps);
    - ``crop_size``: H = W of the network input, pixels;
    - ``short_side``: resize the short side to this before cropping, pixels;
    - ``mean`` / ``std``: per-channel normalization in [0, 1] RGB units.
    """

    num_frames: int = 8
    frame_interval: int = 8
    crop_size: int = 224
    short_side: int = 256
    target_fps: float | None = 30.0
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(C, T, H, W)`` of one view."""
        return (3, self.num_frames, self.crop_size, self.crop_size)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        d = dict(d)
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        return cls(**d)
