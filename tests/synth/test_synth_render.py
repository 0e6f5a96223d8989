"""In-memory rendering of synthetic clips: shapes, boxes, motion semantics, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from vidstruct.data.synth import ACTIONS, actor_mask, clip_scene, render_clip, render_scene, track_boxes
from vidstruct.data.synth.render import polygon_at
from vidstruct.errors import InputError


def _mask_box(mask: np.ndarray) -> np.ndarray:
    """Pixel-edge bbox ``[x1, y1, x2, y2]`` (pixels) of a bool ``[H, W]`` mask."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


@pytest.mark.parametrize("action", ACTIONS)
def test_render_clip_frames_and_boxes(action: str) -> None:
    frames, boxes = render_clip(action, 48, 10, 1.0, np.random.default_rng(1))
    assert frames.shape == (10, 48, 48, 3) and frames.dtype == np.uint8
    assert boxes.shape == (10, 4) and boxes.dtype == np.float32
    assert np.all(boxes >= 0) and np.all(boxes <= 1)
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    # the box is the tight box of the drawn actor (mask = pixel centres inside the polygon); a sharp
    # vertex may reach ~2 px past the last pixel centre it covers
    scene = clip_scene(action, 48, 10, 1.0, np.random.default_rng(1))
    assert np.array_equal(render_scene(scene), frames)
    for frame in (0, 9):
        mask = actor_mask(scene.actors[0], scene.tracks[0], frame, 48, 48)
        assert mask.sum() >= 4
        np.testing.assert_allclose(boxes[frame] * 48, _mask_box(mask), atol=2.5)


def test_actor_stays_inside_frame_for_every_action() -> None:
    for action in ACTIONS:
        for seed in range(25):
            scene = clip_scene(action, 64, 25, 2.0, np.random.default_rng(seed))
            boxes = track_boxes(scene.actors[0], scene.tracks[0], 64, 64)
            assert boxes.min() >= 1 / 64 - 1e-6 and boxes.max() <= 1 - 1 / 64 + 1e-6, (action, seed)


def _track(action: str, seed: int = 0):
    scene = clip_scene(action, 64, 25, 1.0, np.random.default_rng(seed))
    return scene.actors[0], scene.tracks[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_motion_semantics(seed: int) -> None:
    const = lambda a: np.ptp(a) < 1e-9  # noqa: E731
    for action, field, sign in [
        ("move_left", "cx", -1),
        ("move_right", "cx", 1),
        ("move_up", "cy", -1),  # y points down: up = decreasing y
        ("move_down", "cy", 1),
        ("grow", "scale", 1),
        ("shrink", "scale", -1),
        ("rotate_cw", "angle", 1),
        ("rotate_ccw", "angle", -1),
    ]:
        _, track = _track(action, seed)
        steps = np.diff(getattr(track, field))
        assert np.all(sign * steps > 0), action
        for other in {"cx", "cy", "scale", "angle"} - {field}:
            assert const(getattr(track, other)), (action, other)
    _, bounce = _track("bounce", seed)
    assert const(bounce.cx) and np.all(bounce.cy <= bounce.cy[0] + 1e-9) and np.ptp(bounce.cy) > 2
    _, still = _track("stay_still", seed)
    assert all(const(getattr(still, f)) for f in ("cx", "cy", "scale", "angle"))


def test_rotate_cw_turns_clockwise_on_screen() -> None:
    # on screen (y down), clockwise = the vector centre->vertex turns with positive x0*y1 - y0*x1
    for action, expected in (("rotate_cw", 1.0), ("rotate_ccw", -1.0)):
        actor, track = _track(action)
        v0 = polygon_at(actor, track, 0)[0] - [track.cx[0], track.cy[0]]
        v1 = polygon_at(actor, track, 2)[0] - [track.cx[2], track.cy[2]]
        assert np.sign(v0[0] * v1[1] - v0[1] * v1[0]) == expected


def test_appearance_does_not_depend_on_the_label() -> None:
    # appearance is drawn before (and independently of) the motion: same seed, same look, any class
    scenes = [clip_scene(a, 64, 25, 1.0, np.random.default_rng(5)) for a in ACTIONS]
    for scene in scenes[1:]:
        assert np.array_equal(scene.background, scenes[0].background)
        actor, ref = scene.actors[0], scenes[0].actors[0]
        assert actor.shape == ref.shape and actor.radius == ref.radius
        assert np.array_equal(actor.color, ref.color) and np.array_equal(actor.vertices, ref.vertices)
    # ... and varies between clips of the same class
    looks = {clip_scene("move_left", 64, 25, 1.0, np.random.default_rng(s)).actors[0].shape for s in range(30)}
    assert len(looks) >= 3


def test_render_is_deterministic_and_noisy() -> None:
    a, _ = render_clip("stay_still", 32, 10, 0.5, np.random.default_rng(9))
    b, _ = render_clip("stay_still", 32, 10, 0.5, np.random.default_rng(9))
    c, _ = render_clip("stay_still", 32, 10, 0.5, np.random.default_rng(10))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # per-frame camera noise: a still scene is not a constant image
    changed = np.mean(a[1].astype(int) != a[0].astype(int))
    assert changed > 0.5


def test_antialias_off_draws_only_actor_or_background() -> None:
    scene = clip_scene("rotate_cw", 32, 10, 0.5, np.random.default_rng(2), antialias=False, noise_sigma=0.0)
    frame = render_scene(scene)[3].astype(float)
    mask = actor_mask(scene.actors[0], scene.tracks[0], 3, 32, 32)
    np.testing.assert_allclose(frame[mask], np.broadcast_to(np.rint(scene.actors[0].color), frame[mask].shape))
    np.testing.assert_allclose(frame[~mask], np.rint(scene.background[~mask]))


def test_unknown_action_is_an_input_error() -> None:
    with pytest.raises(InputError, match="move_sideways"):
        render_clip("move_sideways", 32, 10, 0.5, np.random.default_rng(0))
