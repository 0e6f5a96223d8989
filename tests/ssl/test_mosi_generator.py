"""The MoSI generator: every clip moves exactly as its label says, under every augmentation.

Motion is measured from pixels only (tests/ssl/mosikit.py: brute-force shift search inside
the moving region) and compared with what the *label* implies: on a 96 px square with 64 px
crops and 8 frames, speed ``s`` moves the window ``s / 2 × 32`` px over the clip, i.e.
``s × 16 / 7 ≈ 2.29 s`` px per frame, and the content moves the opposite way.
"""

from __future__ import annotations

import pytest
import torch
from mosikit import clip_steps, outside
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from vidstruct.errors import ConfigError, InputError
from vidstruct.ssl.mosi import (
    ClipColorJitter,
    MoSIError,
    MoSIGenerator,
    MotionLabelSpace,
    procedural_image,
    window_path,
)

T, CROP, SQUARE = 8, 64, 96
STEP_PER_SPEED = (SQUARE - CROP) / 2 / (T - 1)  # px per frame for speed 1 (max speed 2 crosses 32 px)


def make(**kwargs) -> MoSIGenerator:
    kwargs.setdefault("num_frames", T)
    kwargs.setdefault("crop_size", CROP)
    kwargs.setdefault("short_side", SQUARE)
    return MoSIGenerator(**kwargs)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return procedural_image(seed=3, index=0, height=96, width=128)


def check_labels_match_motion(gen: MoSIGenerator, out, tol: float = 1.0) -> None:
    """Every clip: static region frozen, measured motion = what its label says (see module doc).

    Per frame pair the measured step is within ``tol`` px of the label's (``"nearest"``: a step is a
    difference of rounded positions, < 1 px off); averaged over the clip within 0.2 px
    (``"nearest"``: the total travel is rounded once) or 0.35 px (``"bilinear"``, sub-pixel exact
    but blurred differently per frame, which biases the estimator).
    """
    assert out.clips.shape == (len(out), 3, T, CROP, CROP)
    for k in range(len(out)):
        clip, box = out.clips[k], out.mask_boxes[k].tolist()
        sx, sy = gen.label_space.speed_of(out.labels[k])
        # the static region does not move: pixels outside the box are identical in all frames
        still = outside(box, CROP, CROP)
        assert torch.equal(clip[:, :, still], clip[:, :1, still].expand(-1, T, -1))
        steps = clip_steps(clip, box)  # window steps [T-1, (dx, dy)]
        expected = torch.tensor([sx, sy], dtype=torch.float32) * STEP_PER_SPEED
        assert (steps - expected).abs().max() <= tol, (k, (sx, sy), steps)
        mean_tol = 0.2 if gen.interpolation == "nearest" else 0.35
        assert (steps.mean(0) - expected).abs().max() <= mean_tol, (k, (sx, sy), steps)
        content = -steps  # the content moves opposite to the window
        for axis, s in ((0, sx), (1, sy)):
            if s != 0:
                assert (torch.sign(content[:, axis]) == -torch.sign(torch.tensor(float(s)))).all()
        if gen.interpolation == "nearest":  # frames are exact pixel copies at the reported positions
            assert torch.equal(steps.round(), torch.diff(out.positions[k], dim=0))
        if (sx, sy) == (0, 0):
            assert torch.equal(clip, clip[:, :1].expand_as(clip))


@pytest.mark.parametrize("mode", ["joint", "separate"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("flip_p", [0.5, 1.0])
def test_every_label_moves_as_labelled_with_augmentation(image, mode, interpolation, flip_p):
    gen = make(label_space=MotionLabelSpace(mode=mode), interpolation=interpolation, flip_p=flip_p)
    out = gen.generate(image, generator=torch.Generator().manual_seed(int(flip_p * 10)))
    assert torch.equal(out.labels, gen.label_space.labels())
    if flip_p == 1.0:
        assert out.flipped.all()
    else:
        assert out.flipped.any() and not out.flipped.all()
    check_labels_match_motion(gen, out)


def test_labels_hold_without_mask_and_without_colour_jitter(image):
    for gen in (
        make(static_mask=False),
        make(color_jitter=None, flip_p=0.0),
        make(color_jitter=ClipColorJitter(grayscale=1)),
    ):
        out = gen.generate(image, generator=torch.Generator().manual_seed(5))
        check_labels_match_motion(gen, out)
    out = make(static_mask=False).generate(image, generator=torch.Generator().manual_seed(5))
    assert out.mask_boxes.tolist() == [[0, 0, CROP, CROP]] * 9 and (out.still_index == -1).all()
    moving = (out.clips[0] != out.clips[0][:, :1]).any(0).any(0)  # x-2 clip: the whole frame moves
    assert moving.float().mean() > 0.95


def test_coupled_speeds_move_on_both_axes(image):
    gen = make(label_space=MotionLabelSpace(decouple=False))
    out = gen.generate(image, generator=torch.Generator().manual_seed(2), indices=[0, 8, 24])
    assert out.speeds.tolist() == [[-2, -2], [-1, 1], [0, 0]]
    check_labels_match_motion(gen, out)


def test_bilinear_frames_are_exact_sub_pixel_crops(image):
    # integer steps (4 frames over 24 px: speed 1 of 2 → 12 px in 3 steps of 4): bilinear == nearest
    kwargs = {"num_frames": 4, "short_side": 88, "train": False, "static_mask": False}
    near = make(interpolation="nearest", **kwargs).generate(image)
    bil = make(interpolation="bilinear", **kwargs).generate(image)
    assert torch.equal(near.positions, bil.positions)
    assert torch.allclose(near.clips, bil.clips, atol=1e-4)
    # 26 px available, 3 frames, speed x+1: 13 px in 2 steps from the centred start 6.5 → x = 6.5, 13, 19.5
    half = make(interpolation="bilinear", **{**kwargs, "num_frames": 3, "short_side": 90}).generate(image, indices=[2])
    assert half.positions[0].tolist() == [[6.5, 13.0], [13.0, 13.0], [19.5, 13.0]]
    square = make(short_side=90, train=False).standardize(image).float() / 255
    frames = half.clips[0] * 0.225 + 0.45  # undo the normalization
    crop = lambda x: square[:, 13 : 13 + CROP, x : x + CROP]  # noqa: E731
    assert torch.allclose(frames[:, 0], (crop(6) + crop(7)) / 2, atol=1e-5)  # half-pixel: mean of neighbours
    assert torch.allclose(frames[:, 1], crop(13), atol=1e-5)


def test_flip_mirrors_the_source_before_motion(image):
    """flip_p=1 on an image == flip_p=0 on the mirrored image (same random draws): the flip happens
    on the source, so the motion (and label) is the one generated afterwards."""
    square = image[:, :96]  # already square: standardization keeps it whole
    flipped_first = TF.horizontal_flip(square.permute(2, 0, 1)).permute(1, 2, 0)
    a = make(flip_p=1.0).generate(square, generator=torch.Generator().manual_seed(7))
    b = make(flip_p=0.0).generate(flipped_first, generator=torch.Generator().manual_seed(7))
    assert a.flipped.all() and not b.flipped.any()
    assert torch.equal(a.clips, b.clips)


def test_flipping_finished_clips_would_corrupt_x_labels(image):
    """The public implementation flips generated clips: that reverses x-motion, which this check detects."""
    gen = make(flip_p=0.0, static_mask=False)
    out = gen.generate(image, generator=torch.Generator().manual_seed(0), indices=[0, 3])  # x-2, x+2
    for k in range(2):
        sx = out.speeds[k, 0].item()
        steps = clip_steps(out.clips[k].flip(-1), (0, 0, CROP, CROP))
        assert (torch.sign(steps[:, 0]) == -torch.sign(torch.tensor(float(sx)))).all()  # reversed


def test_colour_jitter_is_one_draw_per_clip(image):
    jit = ClipColorJitter(brightness=0.5, contrast=0.9, saturation=0.5, hue=0.2, grayscale=0.0)
    clip = torch.rand(3, 1, 32, 32).expand(3, 6, 32, 32).clone()
    clip[:, 3, :8, :8] = 1.0  # frames differ only in a corner patch (a moving region)
    out = jit(clip, torch.Generator().manual_seed(0))
    assert not torch.allclose(out, clip, atol=1e-3)  # it did change the colours
    # every frame got the same change: identical input pixels give identical output pixels
    assert torch.equal(out[:, :, 8:, :], out[:, :1, 8:, :].expand(-1, 6, -1, -1))
    assert torch.equal(out[:, 0], out[:, 5])
    grey = ClipColorJitter(grayscale=1.0)(clip, torch.Generator().manual_seed(0))
    assert torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])


def test_torchvision_video_jitter_shares_factors_but_not_the_contrast_reference():
    """Why ClipColorJitter views a clip as one image: torchvision's v2.ColorJitter on a [T, C, H, W] video
    draws one set of factors (identical frames stay identical), but contrast blends each frame with its
    own mean grey, so a static background changes where only a moving patch differs between frames."""
    torch.manual_seed(0)
    video = torch.rand(1, 3, 16, 16).expand(4, 3, 16, 16).clone()
    out = v2.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2)(tv_tensors.Video(video))
    assert all(torch.equal(out[0], out[t]) for t in range(4)) and not torch.allclose(out, video)
    video[2, :, :6, :6] = 1.0
    out = v2.ColorJitter(contrast=(0.3, 0.3))(tv_tensors.Video(video))
    assert not torch.allclose(out[0, :, 8:, 8:], out[2, :, 8:, 8:], atol=1e-3)
    ours = ClipColorJitter(brightness=0, contrast=0.7, saturation=0, hue=0, grayscale=0)
    mine = ours(video.permute(1, 0, 2, 3), torch.Generator().manual_seed(0))
    assert torch.equal(mine[:, 0, 8:, 8:], mine[:, 2, 8:, 8:]) and not torch.allclose(mine, video.permute(1, 0, 2, 3))


def test_colour_jitter_changes_clips_but_not_motion(image):
    plain = make(color_jitter=None).generate(image, generator=torch.Generator().manual_seed(4))
    jittered = make(color_jitter=ClipColorJitter(hue=0.2)).generate(image, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(plain.clips, jittered.clips, atol=1e-2)
    assert torch.equal(plain.positions[0], jittered.positions[0])  # same geometry for the first clip
    check_labels_match_motion(make(), jittered)


def test_evaluation_clips_are_centred_and_deterministic(image):
    gen = make(train=False)
    torch.manual_seed(0)
    a = gen.generate(image)
    torch.manual_seed(123)
    b = gen.generate(image, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a.clips, b.clips) and torch.equal(a.positions, b.positions)
    assert not a.flipped.any()
    # centred path: start + end = available distance (32 px) on each axis, up to rounding
    assert ((a.positions[:, 0] + a.positions[:, -1]) - (SQUARE - CROP)).abs().max() <= 1
    # centred mask: side = middle fraction 0.4 × 64 ≈ 26 px, centred in the frame
    assert a.mask_boxes.tolist() == [[19, 19, 45, 45]] * 9
    assert (a.still_index == T // 2).all()
    check_labels_match_motion(gen, a)


def test_training_clips_are_reproducible_per_generator_and_random_across(image):
    gen = make()
    a = gen.generate(image, generator=torch.Generator().manual_seed(1))
    b = gen.generate(image, generator=torch.Generator().manual_seed(1))
    c = gen.generate(image, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.clips, b.clips)
    assert not torch.equal(a.positions, c.positions)


def test_mask_boxes_follow_the_ratio_range(image):
    gen = make(mask_ratio=(0.3, 0.5), color_jitter=None)
    sides = []
    for seed in range(4):
        out = gen.generate(image, generator=torch.Generator().manual_seed(seed))
        for k, (x1, y1, x2, y2) in enumerate(out.mask_boxes.tolist()):
            assert 0 <= x1 < x2 <= CROP and 0 <= y1 < y2 <= CROP
            sides += [x2 - x1, y2 - y1]
            changing = (out.clips[k] != out.clips[k][:, :1]).any(0).any(0)
            assert not (changing & outside((x1, y1, x2, y2), CROP, CROP)).any()
    assert min(sides) >= round(0.3 * CROP) and max(sides) <= round(0.5 * CROP)
    assert max(sides) - min(sides) >= 6  # sizes are actually random


def test_standardize_resizes_the_short_side_and_crops_a_centred_square():
    ramp = torch.arange(200, dtype=torch.uint8).repeat(100, 1)  # pixel value = column
    image = ramp[..., None].expand(100, 200, 3).contiguous()
    square = make(short_side=None, train=False).standardize(image)
    assert square.shape == (3, 100, 100) and square[0, 0, 0] == 50  # columns 50..149
    resized = make(short_side=80, train=False).standardize(image)
    assert resized.shape == (3, 80, 80)
    assert abs(int(resized[0, 40, 0]) - 50) <= 2  # column 40 of the 160 px wide resize ~ source column 50
    ranged = make(short_side=(70, 90))
    sizes = {ranged.standardize(image, generator=torch.Generator().manual_seed(s)).shape[-1] for s in range(12)}
    assert len(sizes) > 3 and min(sizes) >= 70 and max(sizes) <= 90
    assert make(short_side=(70, 90), train=False).standardize(image).shape[-1] == 80


def test_window_path_hand_computed():
    # speed 1 of max 2 over 32 px available: 16 px in 4 steps; centred start (32 - 16) / 2 = 8
    assert window_path(1, 2, 5, 32).tolist() == [8, 12, 16, 20, 24]
    assert window_path(-2, 2, 5, 32).tolist() == [32, 24, 16, 8, 0]
    assert window_path(1, 2, 5, 32, start_fraction=0.0).tolist() == [0, 4, 8, 12, 16]
    assert window_path(1, 2, 5, 32, start_fraction=1.0).tolist() == [16, 20, 24, 28, 32]
    assert window_path(0, 2, 3, 32).tolist() == [16, 16, 16]
    assert window_path(2, 2, 3, 32, distance_factor=0.5, start_fraction=0.0).tolist() == [0, 8, 16]


def test_distance_jitter_scales_the_travel_within_bounds(image):
    gen = make(distance_jitter=(0.5, 0.5), interpolation="bilinear")
    out = gen.generate(image, generator=torch.Generator().manual_seed(0), indices=[1, 3])  # x-1, x+2
    travel = (out.positions[:, -1] - out.positions[:, 0])[:, 0]
    assert torch.allclose(travel, torch.tensor([-8.0, 16.0]))
    wide = make(distance_jitter=(0.5, 1.5), interpolation="bilinear")
    for seed in range(5):
        pos = wide.generate(image, generator=torch.Generator().manual_seed(seed)).positions
        assert pos.min() >= 0 and pos.max() <= SQUARE - CROP


def test_empty_label_selection_is_an_error(image):
    with pytest.raises(ValueError, match="empty"):
        make().generate(image, indices=[])
    with pytest.raises(ValueError, match="9"):
        make().generate(image, indices=[9])


def test_image_smaller_than_the_crop_names_the_image():
    gen = make()
    with pytest.raises(MoSIError, match=r"cat\.png.*50x40.*64"):
        gen.generate(torch.zeros(40, 50, 3, dtype=torch.uint8), name="cat.png")


@pytest.mark.parametrize(
    "bad",
    [torch.zeros(96, 96, 3), torch.zeros(3, 96, 96, dtype=torch.uint8), torch.zeros(96, 96, dtype=torch.uint8), "x"],
)
def test_wrong_image_form_is_an_input_error(bad):
    with pytest.raises(InputError, match="uint8 RGB"):
        make().generate(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"square_size": 64},
        {"short_side": 64},
        {"mask_ratio": (0.6, 0.4)},
        {"flip_p": 2.0},
        {"interpolation": "cubic"},
        {"distance_jitter": (0.0, 1.0)},
        {"num_frames": 1},
    ],
)
def test_bad_generator_config(kwargs):
    with pytest.raises(ConfigError):
        make(**kwargs)


def test_training_start_positions_are_random_over_the_valid_range(image):
    """x+1 on 32 px available travels 16 px: its x start is uniform in [0, 16], its y (still axis) in [0, 32]."""
    gen = make(static_mask=False, color_jitter=None, flip_p=0.0)
    starts = torch.stack(
        [
            gen.generate(image, generator=torch.Generator().manual_seed(s), indices=[2]).positions[0, 0]
            for s in range(24)
        ]
    )
    x, y = starts[:, 0], starts[:, 1]
    assert x.min() >= 0 and x.max() <= 16 and y.min() >= 0 and y.max() <= 32
    assert x.min() <= 4 and x.max() >= 12 and y.min() <= 8 and y.max() >= 24  # spread, not centred
    centred = make(train=False).generate(image, indices=[2]).positions[0, 0]
    assert centred.tolist() == [8.0, 16.0]  # evaluation: (32 - 16) / 2 and 32 / 2


def test_labels_hold_with_every_augmentation_at_once_including_rescaling(image):
    """Random short side (square 80-112 px), per-clip square position, flips, colour jitter and the mask: each
    clip's measured travel is its label's fraction of the room its own square leaves, in the label's direction."""
    gen = make(short_side=(80, 112), flip_p=0.5, color_jitter=ClipColorJitter())
    sizes = set()
    for seed in range(2):
        out = gen.generate(image, generator=torch.Generator().manual_seed(seed))
        sizes |= set(out.square_sizes.tolist())
        assert out.flipped.any()
        for k in range(len(out)):
            clip, box = out.clips[k], out.mask_boxes[k].tolist()
            still = outside(box, CROP, CROP)
            assert torch.equal(clip[:, :, still], clip[:, :1, still].expand(-1, T, -1))
            sx, sy = gen.label_space.speed_of(out.labels[k])
            room = int(out.square_sizes[k]) - CROP
            travel = clip_steps(clip, box, max_shift=8).sum(0)  # measured window travel (x, y) over the clip
            expected = torch.tensor([sx, sy], dtype=torch.float32) / 2 * room
            assert (travel - expected).abs().max() <= 1.5, (k, (sx, sy), room, travel)
    assert len(sizes) >= 4 and min(sizes) >= 80 and max(sizes) <= 112
