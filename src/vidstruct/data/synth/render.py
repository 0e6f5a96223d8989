"""Drawing scenes: background + actors (+ props) per frame, per-frame camera noise, boxes and masks.

Frames are uint8 ``[T, H, W, 3]`` RGB. An actor is drawn as its polygon, transformed by its pose
(``centre + scale * radius * R(angle) @ vertex``); with anti-aliasing a pixel's coverage is
``clip(0.5 - d, 0, 1)`` where ``d`` is the signed distance (pixels) of the pixel centre to the polygon.
Its *mask* is the set of pixels whose centre lies inside the polygon, so the polygon's tight box covers
the mask exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from vidstruct.data.synth.actions import Track
from vidstruct.data.synth.appearance import Actor


@dataclass
class Scene:
    """Everything needed to render one video, deterministically.

    - ``background``: float32 ``[H, W, 3]`` in ``[0, 255]`` (static camera);
    - ``actors`` / ``tracks``: the people (boxes are annotated for them), drawn in order;
    - ``props`` / ``prop_tracks``: objects drawn after the actors, not annotated;
    - ``noise_sigma``: std (uint8 levels) of the Gaussian camera noise, drawn afresh for every pixel of every
      frame and added equally to the three channels (luma noise);
    - ``noise_seed``: seed of that noise, so that rendering is a pure function of the scene.
    """

    background: np.ndarray
    fps: float
    actors: list[Actor]
    tracks: list[Track]
    noise_sigma: float = 5.0
    noise_seed: int = 0
    antialias: bool = True
    props: list[Actor] = field(default_factory=list)
    prop_tracks: list[Track] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return self.tracks[0].num_frames

    @property
    def height(self) -> int:
        return int(self.background.shape[0])

    @property
    def width(self) -> int:
        return int(self.background.shape[1])


def polygon_at(actor: Actor, track: Track, frame: int) -> np.ndarray:
    """Vertices ``[K, 2]`` (x, y pixels) of ``actor`` at ``frame``."""
    rot = _rotation(float(track.angle[frame]))
    scale = float(track.scale[frame]) * actor.radius
    return np.array([track.cx[frame], track.cy[frame]]) + scale * actor.vertices @ rot.T


def track_boxes(actor: Actor, track: Track, width: int, height: int) -> np.ndarray:
    """Tight boxes ``[T, 4]`` float32 ``[x1, y1, x2, y2]`` normalized to ``[0, 1]`` of the actor's polygon
    per frame; rows of frames where the actor is not visible are NaN."""
    cos, sin = np.cos(track.angle), np.sin(track.angle)
    vx, vy = actor.vertices[:, 0][None], actor.vertices[:, 1][None]  # [1, K]
    scale = (track.scale * actor.radius)[:, None]
    xs = track.cx[:, None] + scale * (cos[:, None] * vx - sin[:, None] * vy)
    ys = track.cy[:, None] + scale * (sin[:, None] * vx + cos[:, None] * vy)
    boxes = np.stack([xs.min(1) / width, ys.min(1) / height, xs.max(1) / width, ys.max(1) / height], axis=1)
    boxes[~track.visible] = np.nan
    return boxes.astype(np.float32)


def actor_mask(actor: Actor, track: Track, frame: int, height: int, width: int) -> np.ndarray:
    """Bool ``[H, W]``: pixels whose centre lies inside the actor's polygon at ``frame`` (all False when the
    actor is not visible)."""
    mask = np.zeros((height, width), dtype=bool)
    if track.visible[frame]:
        region, dist = _signed_distance(actor, track, frame, height, width)
        if region is not None:
            mask[region] = dist <= 0
    return mask


def iter_frames(scene: Scene) -> Iterator[np.ndarray]:
    """Yield the scene's frames one by one, each uint8 ``[H, W, 3]`` RGB."""
    noise_rng = np.random.default_rng(scene.noise_seed)
    h, w = scene.height, scene.width
    layers = list(zip(scene.actors, scene.tracks)) + list(zip(scene.props, scene.prop_tracks))
    for i in range(scene.num_frames):
        frame = scene.background.copy()
        for actor, track in layers:
            if not track.visible[i]:
                continue
            region, dist = _signed_distance(actor, track, i, h, w)
            if region is None:
                continue
            alpha = np.clip(0.5 - dist, 0.0, 1.0) if scene.antialias else (dist <= 0).astype(np.float64)
            alpha = alpha[..., None].astype(np.float32)
            frame[region] = frame[region] * (1.0 - alpha) + actor.color.astype(np.float32) * alpha
        if scene.noise_sigma > 0:
            frame += noise_rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(scene.noise_sigma)
        yield np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def render_scene(scene: Scene) -> np.ndarray:
    """All frames of ``scene`` as uint8 ``[T, H, W, 3]`` RGB."""
    return np.stack(list(iter_frames(scene)))


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _signed_distance(
    actor: Actor, track: Track, frame: int, height: int, width: int
) -> tuple[tuple[slice, slice] | None, np.ndarray]:
    """Signed distance (pixels, < 0 inside) of the pixel centres around the actor's polygon at ``frame``.

    Returns ``(region, dist)``: the ``(rows, cols)`` slices of the frame the polygon can touch (with a
    one-pixel fringe for anti-aliasing) and ``dist`` of shape of that region; ``(None, empty)`` when the
    polygon lies outside the frame.
    """
    verts = polygon_at(actor, track, frame)
    x0, y0 = np.floor(verts.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(verts.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return None, np.empty((0, 0))
    rot = _rotation(float(track.angle[frame]))
    normals = actor.normals @ rot.T  # [K, 2]
    centre = np.array([track.cx[frame], track.cy[frame]])
    offsets = normals @ centre + float(track.scale[frame]) * actor.radius * actor.offsets  # [K]
    xs = np.arange(x0, x1) + 0.5
    ys = np.arange(y0, y1) + 0.5
    dist = (ys[:, None, None] * normals[:, 1] + xs[None, :, None] * normals[:, 0] - offsets).max(axis=2)
    return (slice(y0, y1), slice(x0, x1)), dist
