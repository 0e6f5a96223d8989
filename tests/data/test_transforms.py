"""Clip transforms: layouts, shapes, value ranges, crop positions, label-aware flip, mixup / cutmix."""

from __future__ import annotations

import pytest
import torch

from vidstruct.data.transforms import (
    ColorJitter,
    Compose,
    MixupCutmix,
    MultiScaleCrop,
    Normalize,
    RandAugment,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    ToClip,
    ToVideo,
    build_eval_transform,
    build_train_transform,
    cutmix,
    mixup,
    smooth_targets,
    spatial_crop,
    swap_label_map,
    three_crop,
)
from vidstruct.errors import ConfigError, InputError, ShapeError

MEAN = [0.45, 0.45, 0.45]
STD = [0.225, 0.225, 0.225]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _frames(t: int = 4, h: int = 32, w: int = 48, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


def _normalized_cthw(frames: torch.Tensor) -> torch.Tensor:
    """Reference: THWC uint8 -> CTHW float, (x/255 - mean) / std, computed by hand."""
    x = frames.permute(3, 0, 1, 2).float() / 255.0
    return (x - 0.45) / 0.225


# ---------------------------------------------------------------- layouts and normalization


def test_layout_thwc_to_cthw_and_normalization_values() -> None:
    frames = _frames()
    out = Compose([ToVideo(), Normalize(MEAN, STD), ToClip()])(frames)
    assert out.shape == (3, 4, 32, 48) and out.dtype == torch.float32 and type(out) is torch.Tensor
    torch.testing.assert_close(out, _normalized_cthw(frames))
    # one value by hand: 153 / 255 = 0.6 -> (0.6 - 0.45) / 0.225 = 0.6667
    const = torch.full((1, 2, 2, 3), 153, dtype=torch.uint8)
    torch.testing.assert_close(
        Compose([ToVideo(), Normalize(MEAN, STD), ToClip()])(const), torch.full((3, 1, 2, 2), 2 / 3)
    )


def test_train_transform_shapes_dtype_range() -> None:
    t = build_train_transform(
        short_side=40, crop_size=32, mean=MEAN, std=STD, hflip=True, color_jitter=0.4, randaugment=True
    )
    out = t({"frames": _frames(8, 48, 64), "label": 3, "video": "a.mp4"})
    clip = out["frames"]
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.float32
    # normalized uint8 range: [(0 - 0.45) / 0.225, (1 - 0.45) / 0.225] = [-2, 2.444]
    assert clip.min() >= -2.0 - 1e-5 and clip.max() <= 0.55 / 0.225 + 1e-5
    assert out["label"] == 3 and out["video"] == "a.mp4"


@pytest.mark.parametrize("option", [{"random_resized_crop": True}, {"multi_scale_crop": True}])
def test_train_transform_crop_variants(option: dict) -> None:
    clip = build_train_transform(short_side=40, crop_size=24, **option)(_frames(2, 48, 64))
    assert clip.shape == (3, 2, 24, 24)


def test_eval_transform_centre_crop_is_deterministic_and_exact() -> None:
    frames = _frames(4, 32, 48)
    t = build_eval_transform(short_side=32, crop_size=32, mean=MEAN, std=STD)
    a, b = t(frames), t(frames)
    torch.testing.assert_close(a, b)
    # short side is already 32 (no resize); centre along width: ceil((48 - 32) / 2) = 8
    torch.testing.assert_close(a, _normalized_cthw(frames)[..., 8:40])


def test_short_side_scale_keeps_aspect() -> None:
    # 48x64 -> short side 24: 24 x int(64 * 24 / 48) = 24 x 32
    clip = build_eval_transform(short_side=24, crop_size=24, num_crops=3)(_frames(2, 48, 64))
    assert clip.shape == (3, 3, 2, 24, 24)


# ---------------------------------------------------------------- three-crop positions


def test_three_crop_positions_wide_frames() -> None:
    frames = _frames(4, 32, 48)
    views = build_eval_transform(short_side=32, crop_size=32, mean=MEAN, std=STD, num_crops=3)(frames)
    assert views.shape == (3, 3, 4, 32, 32)
    ref = _normalized_cthw(frames)
    # W = 48 > H: left 0, centre ceil(16 / 2) = 8, right 48 - 32 = 16
    for i, left in enumerate((0, 8, 16)):
        torch.testing.assert_close(views[i], ref[..., left : left + 32])


def test_three_crop_positions_tall_frames_and_odd_gap() -> None:
    clip = torch.arange(1 * 1 * 37 * 20, dtype=torch.float32).reshape(1, 1, 37, 20)
    views = three_crop(clip, 20)
    # H = 37 > W = 20: crops along height at top 0, centre ceil(17 / 2) = 9, bottom 17
    for i, top in enumerate((0, 9, 17)):
        torch.testing.assert_close(views[i], clip[..., top : top + 20, :])
    with pytest.raises(InputError, match="cannot crop"):
        spatial_crop(clip, 21, 1)
    with pytest.raises(ValueError, match="index"):
        spatial_crop(clip, 10, 3)


def test_eval_transform_crop_index_matches_three_crop() -> None:
    frames = _frames(2, 32, 48)
    views = build_eval_transform(short_side=32, crop_size=32, num_crops=3)(frames)
    for i in range(3):
        torch.testing.assert_close(build_eval_transform(short_side=32, crop_size=32, crop_index=i)(frames), views[i])


# ---------------------------------------------------------------- flip with label map

SSV2_NAMES = [
    "Pushing something from left to right",
    "Pushing something from right to left",
    "Turning the camera left while filming something",
    "Turning the camera right while filming something",
    "Holding something",
    "Moving something left",  # partner "Moving something right" is not a class -> unmapped
]


def test_swap_label_map_ssv2_pairs() -> None:
    assert swap_label_map(SSV2_NAMES) == {0: 1, 1: 0, 2: 3, 3: 2}


def test_flip_swaps_label_and_mirrors_frames() -> None:
    video = ToVideo()({"frames": _frames(2, 8, 10)})["frames"]
    flip = RandomHorizontalFlip(p=1.0, label_map=swap_label_map(SSV2_NAMES))
    out = flip({"frames": video, "label": 0})
    assert out["label"] == 1
    torch.testing.assert_close(out["frames"], video.flip(-1))
    assert flip({"frames": video, "label": 4})["label"] == 4
    assert int(flip({"frames": video, "label": torch.tensor(3)})["label"]) == 2
    unflipped = RandomHorizontalFlip(p=0.0, label_map={0: 1, 1: 0})({"frames": video, "label": 0})
    assert unflipped["label"] == 0 and torch.equal(unflipped["frames"], video)


def test_flip_label_follows_pixels_in_train_pipeline() -> None:
    # 32x32 frames, short side 32, crop 32: the only randomness left is the flip
    frames = _frames(2, 32, 32)
    ref = _normalized_cthw(frames)
    t = build_train_transform(short_side=32, crop_size=32, hflip=True, flip_label_map={0: 1, 1: 0})
    outcomes = set()
    for seed in range(16):
        torch.manual_seed(seed)
        out = t({"frames": frames, "label": 0})
        flipped = torch.allclose(out["frames"], ref.flip(-1), atol=1e-5)
        assert flipped or torch.allclose(out["frames"], ref, atol=1e-5)
        assert out["label"] == (1 if flipped else 0)
        outcomes.add(flipped)
    assert outcomes == {True, False}


def test_flip_label_map_must_be_symmetric() -> None:
    with pytest.raises(ConfigError, match="symmetric"):
        RandomHorizontalFlip(label_map={0: 1})


# ---------------------------------------------------------------- photometric


def _still_video(t: int = 4) -> torch.Tensor:
    frame = _frames(1, 24, 24)
    return ToVideo()({"frames": frame.repeat(t, 1, 1, 1)})["frames"]


def test_color_jitter_clip_level_vs_per_frame() -> None:
    video = _still_video()
    same = ColorJitter(0.8, 0.8, 0.8, 0.2)({"frames": video})["frames"]
    assert not torch.equal(same, video)
    assert all(torch.equal(same[0], same[i]) for i in range(1, 4))
    per = ColorJitter(0.8, 0.8, 0.8, 0.2, per_frame=True)({"frames": video})["frames"]
    assert per.shape == video.shape and per.dtype == torch.uint8
    assert not torch.equal(per[0], per[1])


def test_randaugment_same_op_for_all_frames() -> None:
    video = _still_video()
    changed = 0
    for seed in range(8):
        torch.manual_seed(seed)
        out = RandAugment(num_ops=2, magnitude=9)({"frames": video})["frames"]
        assert out.shape == video.shape and out.dtype == torch.uint8
        assert all(torch.equal(out[0], out[i]) for i in range(1, 4))
        changed += int(not torch.equal(out, video))
    assert changed > 0


def test_random_erasing_same_box_in_every_frame() -> None:
    clip = torch.ones(4, 3, 32, 32)
    out = RandomErasing(p=1.0)({"frames": clip})["frames"]
    erased = out == 0
    assert 0 < erased[0].float().mean() < 1
    assert all(torch.equal(erased[0], erased[i]) for i in range(1, 4))


def test_multi_scale_crop_candidates() -> None:
    # base = min(48, 64) = 48; sides int(48 * (1, .875, .75, .66)) = 48, 42, 36, 31
    sizes, grid = MultiScaleCrop(24).candidates(48, 64)
    assert sorted(sizes) == sorted(
        [(48, 48), (42, 48), (48, 42), (42, 42), (36, 42), (42, 36), (36, 36), (31, 36), (36, 31), (31, 31)]
    )
    assert len(grid) == 13
    out = MultiScaleCrop(24)({"frames": ToVideo()({"frames": _frames(2, 48, 64)})["frames"]})["frames"]
    assert out.shape == (2, 3, 24, 24)


def test_random_resized_crop_output_size() -> None:
    out = RandomResizedCrop(16, scale=(0.5, 1.0))({"frames": ToVideo()({"frames": _frames(3, 40, 30)})["frames"]})
    assert out["frames"].shape == (3, 3, 16, 16)


# ---------------------------------------------------------------- mixup / cutmix


def test_smooth_targets_by_hand() -> None:
    # eps 0.1, K 4: true class 1 - 0.1 + 0.1/4 = 0.925, others 0.025
    t = smooth_targets(torch.tensor([0, 2]), 4, 0.1)
    expected = torch.tensor([[0.925, 0.025, 0.025, 0.025], [0.025, 0.025, 0.925, 0.025]])
    torch.testing.assert_close(t, expected)


def test_mixup_weights_by_hand() -> None:
    clips = torch.stack([torch.zeros(3, 2, 4, 4), torch.ones(3, 2, 4, 4)])
    targets = smooth_targets(torch.tensor([0, 2]), 4)
    mixed, soft = mixup(clips, targets, 0.7)
    # clip 0 = 0.7 * 0 + 0.3 * 1 = 0.3; clip 1 = 0.7 * 1 + 0.3 * 0 = 0.7
    torch.testing.assert_close(mixed[0], torch.full((3, 2, 4, 4), 0.3))
    torch.testing.assert_close(mixed[1], torch.full((3, 2, 4, 4), 0.7))
    torch.testing.assert_close(soft, torch.tensor([[0.7, 0.0, 0.3, 0.0], [0.3, 0.0, 0.7, 0.0]]))


def test_cutmix_box_and_lambda_by_hand() -> None:
    clips = torch.stack([torch.zeros(3, 2, 4, 4), torch.ones(3, 2, 4, 4)])
    targets = smooth_targets(torch.tensor([0, 1]), 2)
    mixed, soft, lam = cutmix(clips, targets, (0, 2, 1, 3))  # rows 0-1, cols 1-2: 4 of 16 pixels
    assert lam == pytest.approx(1 - 4 / 16)
    assert torch.equal(mixed[0, :, :, 0:2, 1:3], torch.ones(3, 2, 2, 2))  # partner's box, every frame
    assert mixed[0].sum() == 3 * 2 * 4
    torch.testing.assert_close(soft, torch.tensor([[0.75, 0.25], [0.25, 0.75]]))


def test_smooth_targets_keeps_soft_targets() -> None:
    soft = torch.tensor([[0.7, 0.3], [0.0, 1.0]])
    torch.testing.assert_close(smooth_targets(soft, 2, 0.1), soft)  # soft targets are not smoothed again
    with pytest.raises(InputError, match="out of range"):
        smooth_targets(torch.tensor([4]), 4)


def test_mixup_cutmix_batch_soft_targets_sum_to_one() -> None:
    g = torch.Generator().manual_seed(0)
    clips = torch.rand(4, 3, 2, 8, 8, generator=g)
    labels = torch.tensor([0, 1, 2, 3])
    mix = MixupCutmix(mixup_alpha=0.8, label_smoothing=0.1)
    out, soft = mix(clips, labels, 5, torch.Generator().manual_seed(0))
    lam = mix.last_lam
    assert mix.last_mode == "mixup" and 0 < lam < 1
    torch.testing.assert_close(out, lam * clips + (1 - lam) * clips.flip(0))
    torch.testing.assert_close(soft.sum(1), torch.ones(4))
    # eps 0.1, K 5: smoothed one-hot = 0.92 on the class, 0.02 elsewhere; sample 0 mixes with sample 3:
    # class 0: lam * 0.92 + (1 - lam) * 0.02; class 3: lam * 0.02 + (1 - lam) * 0.92; class 1: 0.02
    assert soft[0, 0].item() == pytest.approx(lam * 0.92 + (1 - lam) * 0.02)
    assert soft[0, 3].item() == pytest.approx(lam * 0.02 + (1 - lam) * 0.92)
    assert soft[0, 1].item() == pytest.approx(0.02)

    cut = MixupCutmix(cutmix_alpha=1.0)
    base = torch.stack([torch.full((3, 2, 8, 8), float(i)) for i in range(4)])
    out, soft = cut(base, labels, 5, torch.Generator().manual_seed(1))
    assert cut.last_mode == "cutmix"
    # lambda equals the fraction of pixels that still come from the clip itself
    own = (out[0] == 0).float().mean().item()
    assert own == pytest.approx(cut.last_lam)
    assert soft[0, 0].item() == pytest.approx(cut.last_lam) and soft[0, 3].item() == pytest.approx(1 - cut.last_lam)
    torch.testing.assert_close(soft.sum(1), torch.ones(4))


def test_cutmix_box_is_the_same_in_every_frame_and_lambda_is_the_kept_area() -> None:
    clip = torch.zeros(2, 3, 4, 16, 16)
    clip[1] = 1.0
    mix = MixupCutmix(cutmix_alpha=1.0)
    for seed in range(5):
        mixed, lam = mix.mix_clip(clip, torch.Generator().manual_seed(seed))
        pasted = mixed[0, 0, 0]  # sample 0 got a box of sample 1 (ones)
        assert lam == pytest.approx(1 - pasted.sum().item() / 256)
        assert all(torch.equal(mixed[0, c, t], pasted) for c in range(3) for t in range(4))
        assert torch.equal(clip[0], torch.zeros(3, 4, 16, 16))  # input left untouched


def test_mix_targets_of_soft_labels_and_heads() -> None:
    mix = MixupCutmix(mixup_alpha=1.0, label_smoothing=0.1)
    soft = torch.tensor([[0.7, 0.3], [0.0, 1.0]])
    out = mix.mix_targets(soft, torch.zeros(2, 2), 0.25)  # soft targets are not smoothed again
    torch.testing.assert_close(out[0], 0.25 * soft[0] + 0.75 * soft[1])
    heads = mix.mix_targets({"verb": torch.tensor([0, 1])}, {"verb": torch.zeros(2, 3)}, 1.0)
    # lam = 1: smoothed one-hot: 0.1 / 3 off target, 0.9 + 0.1 / 3 on target (K read from the logits)
    torch.testing.assert_close(heads["verb"][0], torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]))


def test_mixup_draws_come_from_the_generator_and_off_switch() -> None:
    clips = torch.rand(4, 3, 2, 4, 4)
    for kw in ({"mixup_alpha": 0.4, "cutmix_alpha": 1.0}, {"mixup_alpha": 0.4, "prob": 0.5}):
        a = MixupCutmix(**kw).mix_clip(clips, torch.Generator().manual_seed(5))
        b = MixupCutmix(**kw).mix_clip(clips, torch.Generator().manual_seed(5))
        assert a[1] == b[1] and torch.equal(a[0], b[0])
    # with prob 0.5 some of 20 batches are mixed and some are not
    mix, g = MixupCutmix(mixup_alpha=0.4, prob=0.5), torch.Generator().manual_seed(0)
    modes = {mix.mix_clip(clips, g) and mix.last_mode for _ in range(20)}
    assert modes == {"mixup", "none"}
    off = MixupCutmix()
    assert not off.enabled
    pair = clips[:2]
    out, soft = off(pair, torch.tensor([2, 0]), 3)
    assert out is pair and off.last_mode == "none"
    torch.testing.assert_close(soft, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))


# ---------------------------------------------------------------- validation


def test_invalid_inputs_and_arguments() -> None:
    with pytest.raises(ShapeError, match="uint8"):
        build_eval_transform(short_side=32, crop_size=32)(torch.rand(2, 32, 32, 3))
    with pytest.raises(ShapeError, match=r"\[T, H, W, C\]"):
        build_eval_transform(short_side=32, crop_size=32)(torch.zeros(32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="crop_size"):
        build_train_transform(short_side=100, crop_size=112)
    with pytest.raises(ConfigError, match="std"):
        Normalize([0.5, 0.5, 0.5], [0.2, 0.0, 0.2])
    with pytest.raises(InputError, match="labels"):
        smooth_targets(torch.tensor([0, 5]), 5)
    with pytest.raises(ShapeError, match="B, C, T, H, W"):
        MixupCutmix(mixup_alpha=1.0)(torch.rand(2, 3, 4, 4), torch.tensor([0, 1]), 3)
    with pytest.raises(ConfigError, match="alpha"):
        MixupCutmix(mixup_alpha=-1.0)
