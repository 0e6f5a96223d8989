"""MoSI pseudo-motion generator: one still image → short clips of a crop window moving over it.

Recipe (Huang et al., "Self-supervised Motion Learning from Static Images", CVPR 2021), per clip:

1. **standardize**: resize the short side to ``short_side`` pixels (a random size in a range
   when given ``(low, high)`` in training) and cut a square of ``square_size`` pixels
   (default: the short side), at a random place in training (drawn anew for every clip, as
   in the public code), centred in evaluation (one square shared by all clips of the image);
2. **flip** (training, probability ``flip_p``): mirror the *square image* left-right before
   any motion is generated, so every label stays true (the public implementation flips the
   finished clip, which reverses x-motion without changing its label);
3. for every speed ``(sx, sy)`` of the :class:`~vidstruct.ssl.mosi.labels.MotionLabelSpace`,
   move a ``crop_size`` window linearly over ``num_frames`` frames: on each axis the window
   travels ``d = s / m × (square_size − crop_size)`` pixels from the first to the last frame
   (``m`` the largest speed; ``× distance factor`` when ``distance_jitter`` is not ``(1, 1)``).
   The path is placed at a uniformly random start within the valid range in training and
   centred (start ``(R − d) / 2``) in evaluation. Positions are real numbers; with
   ``interpolation="nearest"`` (default, like the public code) each is rounded to the nearest
   pixel and frames are exact pixel copies (a per-frame step may differ by 1 px from ``d / (T − 1)``);
   with ``"bilinear"`` frames are sampled at the exact sub-pixel positions (``grid_sample``);
4. **static mask**: outside a random rectangle (sides a random fraction ``mask_ratio`` of the
   frame) every frame shows the same still frame of the clip (:mod:`vidstruct.ssl.mosi.mask`);
5. **colour jitter** (training): one random colour change for the whole clip
   (:class:`~vidstruct.ssl.mosi.color.ClipColorJitter`), then normalization with ``mean`` /
   ``std``. Steps 4-5 only touch the pixels the masked clip shows (the still frame and the
   box of each frame), and the still frame is copied last, so the static region is
   bit-identical in every frame.

Motion convention: the window moves by ``+sx`` along x (columns, right) and ``+sy`` along y
(rows, down), so the image *content* moves the opposite way in the clip: with ``p_t`` the
window's top-left at frame ``t``, ``frame[t+1][y, x] = frame[t][y + Δy, x + Δx]`` with
``Δ = p_{t+1} − p_t``.

Randomness comes from the ``generator`` argument (a ``torch.Generator``; ``None`` = torch's
global RNG, which the training engine seeds per sample). Evaluation mode (``train=False``)
draws no random numbers at all: clips are a deterministic function of the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as nnf
from PIL import Image
from torchvision.transforms.v2 import functional as F

from vidstruct.errors import ConfigError, InputError
from vidstruct.ssl.mosi.color import ClipColorJitter
from vidstruct.ssl.mosi.errors import MoSIError
from vidstruct.ssl.mosi.labels import MotionLabelSpace
from vidstruct.ssl.mosi.mask import MaskBox, check_ratio, sample_mask_box

Interpolation = Literal["nearest", "bilinear"]
DEFAULT_MEAN: tuple[float, float, float] = (0.45, 0.45, 0.45)
DEFAULT_STD: tuple[float, float, float] = (0.225, 0.225, 0.225)


@dataclass
class MoSIClips:
    """The clips generated from one image, with what produced them.

    - ``clips``: float32 ``[L, C, T, H, W]``, normalized with the generator's mean / std;
    - ``labels``: int64 ``[L]`` (joint) or ``[L, 2]`` (separate: x, y);
    - ``speeds``: int64 ``[L, 2]`` window speeds ``(sx, sy)``;
    - ``positions``: float32 ``[L, T, 2]`` window top-left ``(x, y)`` in the standardized
      square, pixels (rounded in ``"nearest"`` mode: exactly the pixels copied);
    - ``square_sizes``: int64 ``[L]`` side of the standardized square each clip was cut from
      (speed ``s`` travels ``s / m × (square_size − crop_size)`` px over the clip);
    - ``mask_boxes``: int64 ``[L, 4]`` moving region ``[x1, y1, x2, y2)`` in clip pixels (the
      whole frame when the static mask is off);
    - ``still_index``: int64 ``[L]`` the frame shown outside the box (``-1``: no mask);
    - ``flipped``: bool ``[L]`` whether the source square was mirrored for that clip.
    """

    clips: torch.Tensor
    labels: torch.Tensor
    speeds: torch.Tensor
    positions: torch.Tensor
    square_sizes: torch.Tensor
    mask_boxes: torch.Tensor
    still_index: torch.Tensor
    flipped: torch.Tensor

    def __len__(self) -> int:
        return int(self.clips.shape[0])


class MoSIGenerator:
    """Pseudo-motion clips from still images (see module doc for the recipe and conventions).

    - ``num_frames`` / ``crop_size``: clip length ``T`` and frame side ``H = W``;
    - ``short_side``: resize target of the image's short side, an int or a ``(low, high)``
      range sampled per image in training (evaluation uses the middle); ``None``: no resize;
    - ``square_size``: side of the square the window moves in (default: the short side);
    - ``label_space``: speeds and label mode (default: 5 speeds, decoupled, joint, 9 clips);
    - ``static_mask`` / ``mask_ratio``: the static mask and its side fractions;
    - ``color_jitter``: per-clip colour jitter in training (``None``: off);
    - ``flip_p``: probability of mirroring the source square in training;
    - ``distance_jitter``: ``(low, high)`` random factor on the travelled distance in training
      (``(1, 1)``: exact speeds; the largest speed never exceeds the available distance);
    - ``interpolation``: ``"nearest"`` (integer window positions) or ``"bilinear"`` (sub-pixel);
    - ``mean`` / ``std``: per-channel normalization of ``[0, 1]`` pixel values;
    - ``train``: random placement and augmentation (True) or centred, deterministic clips.
    """

    def __init__(
        self,
        *,
        num_frames: int = 16,
        crop_size: int = 112,
        short_side: int | tuple[int, int] | None = 320,
        square_size: int | None = None,
        label_space: MotionLabelSpace | None = None,
        static_mask: bool = True,
        mask_ratio: tuple[float, float] = (0.3, 0.5),
        color_jitter: ClipColorJitter | None = ClipColorJitter(),
        flip_p: float = 0.5,
        distance_jitter: tuple[float, float] = (1.0, 1.0),
        interpolation: Interpolation = "nearest",
        mean: tuple[float, ...] = DEFAULT_MEAN,
        std: tuple[float, ...] = DEFAULT_STD,
        train: bool = True,
    ) -> None:
        if num_frames < 2:
            raise ConfigError(f"mosi num_frames must be >= 2, got {num_frames}")
        if crop_size < 1:
            raise ConfigError(f"mosi crop_size must be >= 1, got {crop_size}")
        self.num_frames, self.crop_size = int(num_frames), int(crop_size)
        self.short_side = _check_short_side(short_side)
        if square_size is not None:
            if square_size <= crop_size:
                raise ConfigError(f"mosi square_size ({square_size}) must be larger than crop_size ({crop_size})")
            if self.short_side is not None and square_size > self.short_side[0]:
                raise ConfigError(f"mosi square_size ({square_size}) exceeds the short side {short_side}")
        elif self.short_side is not None and self.short_side[0] <= crop_size:
            raise ConfigError(f"mosi short_side {short_side} must be larger than crop_size ({crop_size})")
        self.square_size = square_size
        self.label_space = label_space if label_space is not None else MotionLabelSpace()
        self.static_mask = bool(static_mask)
        self.mask_ratio = check_ratio(mask_ratio)
        self.color_jitter = color_jitter
        if not 0 <= flip_p <= 1:
            raise ConfigError(f"mosi flip_p must be in [0, 1], got {flip_p}")
        self.flip_p = float(flip_p)
        lo, hi = (float(v) for v in distance_jitter)
        if not 0 < lo <= hi:
            raise ConfigError(f"mosi distance_jitter must be (low, high) with 0 < low <= high, got {distance_jitter}")
        self.distance_jitter = (lo, hi)
        if interpolation not in ("nearest", "bilinear"):
            raise ConfigError(f"mosi interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        self.interpolation = interpolation
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ConfigError(f"mosi mean / std need 3 values (std > 0), got mean={mean} std={std}")
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1)
        self.train = bool(train)

    # ------------------------------------------------------------------ public API
    def __len__(self) -> int:
        """Number of clips (labels) generated per image."""
        return len(self.label_space)

    def generate(
        self,
        image: Any,
        *,
        generator: torch.Generator | None = None,
        indices: list[int] | None = None,
        name: str | None = None,
    ) -> MoSIClips:
        """All clips of ``image`` (or those of the label ``indices``), see :class:`MoSIClips`.

        ``image``: uint8 ``[H, W, 3]`` RGB (torch or numpy) or a PIL image; ``name`` (its path)
        is used in error messages.
        """
        where = name or "image"
        img = as_chw_uint8(image, where)
        square = None if self.train else self._square(img, generator, where)  # per clip in training
        indices = list(range(len(self))) if indices is None else [int(i) for i in indices]
        if not indices:
            raise ValueError("mosi generate: indices is empty (give None for all labels)")
        for i in indices:
            if not 0 <= i < len(self):
                raise ValueError(f"mosi label index {i} outside [0, {len(self)})")
        speeds = self.label_space.speeds
        clips, positions, sizes, boxes, stills, flips = [], [], [], [], [], []
        for i in indices:
            flip, source = False, square
            if self.train:
                source = self._square(img, generator, where)
                flip = bool(torch.rand((), generator=generator) < self.flip_p)
                if flip:
                    source = F.horizontal_flip(source)
            assert source is not None
            clip, path = self._moving_clip(source, speeds[i], generator, where)
            clip = clip.float().div_(255) if clip.dtype == torch.uint8 else clip.div_(255)
            box, still = MaskBox(0, 0, self.crop_size, self.crop_size), -1
            if self.static_mask:
                box = sample_mask_box(
                    self.crop_size, self.crop_size, self.mask_ratio, generator=generator, centred=not self.train
                )
                still = self.num_frames // 2
                if self.train:
                    still = int(torch.randint(0, self.num_frames, (), generator=generator))
            clip = self._finish(clip, box, still, generator)
            clips.append(clip)
            positions.append(path)
            sizes.append(int(source.shape[-1]))
            boxes.append(box.as_tuple())
            stills.append(still)
            flips.append(flip)
        labels = self.label_space.labels()[indices]
        return MoSIClips(
            clips=torch.stack(clips).contiguous(),
            labels=labels,
            speeds=torch.tensor([speeds[i] for i in indices], dtype=torch.int64).reshape(-1, 2),
            positions=torch.stack(positions).float(),
            square_sizes=torch.tensor(sizes, dtype=torch.int64),
            mask_boxes=torch.tensor(boxes, dtype=torch.int64).reshape(-1, 4),
            still_index=torch.tensor(stills, dtype=torch.int64),
            flipped=torch.tensor(flips, dtype=torch.bool),
        )

    def standardize(
        self, image: Any, *, generator: torch.Generator | None = None, name: str | None = None
    ) -> torch.Tensor:
        """uint8 ``[3, S, S]``: ``image`` resized (short side) and cut to the square the window moves in."""
        where = name or "image"
        return self._square(as_chw_uint8(image, where), generator, where)

    def _square(self, img: torch.Tensor, generator: torch.Generator | None, where: str) -> torch.Tensor:
        h, w = img.shape[-2:]
        if min(h, w) < self.crop_size or (self.short_side is None and min(h, w) <= self.crop_size):
            raise MoSIError(
                f"{where}: image {w}x{h} is too small for MoSI crops of {self.crop_size} px "
                f"(the short side must be larger than the crop)"
            )
        if self.short_side is not None:
            lo, hi = self.short_side
            if self.train:
                side = int(torch.randint(lo, hi + 1, (), generator=generator)) if hi > lo else lo
            else:
                side = (lo + hi) // 2
            scale = side / min(h, w)
            nh, nw = (side, max(side, round(w * scale))) if h <= w else (max(side, round(h * scale)), side)
            img = F.resize(img, [nh, nw], antialias=True)
            h, w = nh, nw
        size = self.square_size if self.square_size is not None else min(h, w)
        if size > min(h, w):
            raise MoSIError(f"{where}: image {w}x{h} is smaller than the MoSI square of {size} px")
        if self.train:
            y0 = int(torch.randint(0, h - size + 1, (), generator=generator))
            x0 = int(torch.randint(0, w - size + 1, (), generator=generator))
        else:
            y0, x0 = (h - size) // 2, (w - size) // 2
        return img[:, y0 : y0 + size, x0 : x0 + size]

    # ------------------------------------------------------------------ internals
    def _moving_clip(
        self, square: torch.Tensor, speed: tuple[int, int], generator: torch.Generator | None, where: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(clip [C, T, h, w] uint8 or float 0..255, window path [T, 2] (x, y))`` for one speed."""
        size = square.shape[-1]
        available = size - self.crop_size
        if available <= 0 and speed != (0, 0):
            raise MoSIError(f"{where}: MoSI square {size} px leaves no room to move a {self.crop_size} px crop")
        m = self.label_space.max_speed
        if self.train:
            u = torch.rand(4, generator=generator).tolist()
            starts, jitters = u[:2], [self._distance_factor(abs(s) == m, v) for s, v in zip(speed, u[2:])]
        else:
            starts, jitters = [0.5, 0.5], [1.0, 1.0]
        xs = window_path(speed[0], m, self.num_frames, available, distance_factor=jitters[0], start_fraction=starts[0])
        ys = window_path(speed[1], m, self.num_frames, available, distance_factor=jitters[1], start_fraction=starts[1])
        path = torch.stack([xs, ys], dim=1)  # [T, 2] float64
        if self.interpolation == "nearest":
            path = path.round()
            cs = self.crop_size
            frames = [square[:, y : y + cs, x : x + cs] for x, y in path.long().tolist()]
            return torch.stack(frames, dim=1), path
        return _bilinear_crops(square, path, self.crop_size), path

    def _finish(self, clip: torch.Tensor, box: MaskBox, still: int, generator: torch.Generator | None) -> torch.Tensor:
        """Colour jitter, normalization and static mask of a float clip ``[C, T, h, w]`` in ``[0, 1]``.

        Only the pixels the masked clip shows are processed: the still frame and the box of
        every frame, as one pixel set (one jitter draw, one contrast mean); the still frame is
        then copied outside the box, so the static region is bit-identical across frames.
        """
        c = clip.shape[0]
        if still < 0:
            parts = [clip]
        else:
            parts = [clip[:, still], clip[:, :, box.y1 : box.y2, box.x1 : box.x2]]
        pixels = torch.cat([p.reshape(c, -1) for p in parts], dim=1)
        if self.train and self.color_jitter is not None:
            pixels = self.color_jitter(pixels, generator)
        pixels = (pixels - self.mean) / self.std
        if still < 0:
            return pixels.reshape(clip.shape)
        n_still = parts[0][0].numel()
        still_frame = pixels[:, :n_still].reshape(parts[0].shape)
        out = still_frame.unsqueeze(1).expand_as(clip).clone()
        out[:, :, box.y1 : box.y2, box.x1 : box.x2] = pixels[:, n_still:].reshape(parts[1].shape)
        return out

    def _distance_factor(self, is_max: bool, u: float) -> float:
        lo, hi = self.distance_jitter
        if is_max:  # the largest speed already spans the whole available distance
            lo, hi = min(lo, 1.0), min(hi, 1.0)
        return lo + u * (hi - lo)


def window_path(
    speed: int,
    max_speed: int,
    num_frames: int,
    available: float,
    *,
    distance_factor: float = 1.0,
    start_fraction: float = 0.5,
) -> torch.Tensor:
    """float64 ``[T]``: the window's coordinate on one axis at each frame (pixels, real-valued).

    The window travels ``d = speed / max_speed × available × distance_factor`` from the first
    to the last frame, staying within ``[0, available]``; ``start_fraction`` in ``[0, 1]``
    places the start within its valid range ``[max(0, −d), min(available, available − d)]``
    (``0.5``: centred, start ``(available − d) / 2``).
    """
    d = speed / max_speed * available * distance_factor
    lo, hi = max(0.0, -d), min(float(available), available - d)
    start = lo + start_fraction * (hi - lo)
    return start + d * torch.linspace(0, 1, num_frames, dtype=torch.float64)


def _bilinear_crops(square: torch.Tensor, path: torch.Tensor, crop: int) -> torch.Tensor:
    """float ``[C, T, crop, crop]`` (0..255) sampled from ``square [C, S, S]`` at sub-pixel top-lefts ``path``."""
    c, size, _ = square.shape
    t = path.shape[0]
    offsets = torch.arange(crop, dtype=torch.float64)
    gx = (path[:, 0:1] + offsets) * (2.0 / (size - 1)) - 1.0  # [T, crop], align_corners=True pixel centres
    gy = (path[:, 1:2] + offsets) * (2.0 / (size - 1)) - 1.0
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1).float()  # [T, crop, crop, 2]
    src = square.float().unsqueeze(0).expand(t, c, size, size)
    out = nnf.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.permute(1, 0, 2, 3)


def as_chw_uint8(image: Any, where: str = "image") -> torch.Tensor:
    """uint8 ``[3, H, W]`` from a PIL image or a uint8 ``[H, W, 3]`` RGB array / tensor (decoded-frame layout)."""
    if isinstance(image, Image.Image):
        image = np.array(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8 or image.dim() != 3 or image.shape[-1] != 3:
        desc = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"{where}: MoSI expects a uint8 RGB image [H, W, 3] or a PIL image, got {desc}")
    return image.permute(2, 0, 1)


def _check_short_side(short_side: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if short_side is None:
        return None
    lo, hi = (short_side, short_side) if isinstance(short_side, int) else tuple(int(v) for v in short_side)
    if not 0 < lo <= hi:
        raise ConfigError(f"mosi short_side must be a positive int or (low, high) with low <= high, got {short_side}")
    return lo, hi
