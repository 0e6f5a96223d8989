"""The MoSI dataset and collate: item layouts, flattening, label modes, DataLoader use, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mosikit import clip_steps
from PIL import Image
from torch.utils.data import DataLoader

from vidstruct.ssl.mosi import (
    ImageFileSource,
    MoSIDataset,
    MoSIError,
    MoSIGenerator,
    MotionLabelSpace,
    ProceduralSource,
    mosi_collate,
)


def make(**kwargs) -> MoSIGenerator:
    return MoSIGenerator(num_frames=4, crop_size=32, short_side=48, **kwargs)


SOURCE = ProceduralSource(3, height=48, width=64, seed=0)


def test_all_clips_per_image_and_flattening_collate():
    ds = MoSIDataset(SOURCE, make())
    assert len(ds) == 3 and ds.classes[-1] == "static"
    item = ds[1]
    assert item["clip"].shape == (9, 3, 4, 32, 32) and item["clip"].dtype == torch.float32
    assert torch.equal(item["label"], torch.arange(9)) and item["index"] == 1
    batch = next(iter(DataLoader(ds, batch_size=2, collate_fn=mosi_collate)))
    assert batch["clip"].shape == (18, 3, 4, 32, 32)
    assert torch.equal(batch["label"], torch.arange(9).repeat(2))
    assert batch["index"].tolist() == [0] * 9 + [1] * 9


def test_separate_labels_carry_per_head_targets():
    ds = MoSIDataset(SOURCE, make(label_space=MotionLabelSpace(mode="separate")))
    item = ds[0]
    assert item["label"].shape == (9, 2)
    assert torch.equal(item["labels"]["move_x"], item["label"][:, 0])
    assert item["labels"]["move_y"].tolist() == [2, 2, 2, 2, 0, 1, 3, 4, 2]
    batch = mosi_collate([ds[0], ds[2]])
    assert batch["label"].shape == (18, 2) and batch["labels"]["move_x"].shape == (18,)


def test_sampled_clips_cover_every_label_in_evaluation():
    ds = MoSIDataset(SOURCE, make(train=False), clips="sample")
    assert len(ds) == 27
    items = [ds[i] for i in range(len(ds))]
    assert [it["label"].item() for it in items] == list(range(9)) * 3
    assert [it["index"] for it in items] == [0] * 9 + [1] * 9 + [2] * 9
    assert items[4]["clip"].shape == (3, 4, 32, 32)
    assert torch.equal(ds[13]["clip"], items[13]["clip"])  # deterministic
    batch = mosi_collate(items[:5])
    assert batch["clip"].shape == (5, 3, 4, 32, 32) and batch["label"].tolist() == [0, 1, 2, 3, 4]


def test_sampled_training_clips_move_as_labelled():
    gen = MoSIGenerator(num_frames=8, crop_size=64, short_side=96)
    ds = MoSIDataset(ProceduralSource(2, height=96, width=96, seed=4), gen, clips="sample")
    assert len(ds) == 2
    torch.manual_seed(0)  # the dataset draws from torch's global RNG (seeded per sample by the engine)
    seen = set()
    for _ in range(8):
        item = ds[0]
        clip, label = item["clip"], int(item["label"])
        assert clip.shape == (3, 8, 64, 64)
        seen.add(label)
        sx, sy = gen.label_space.speed_of(label)
        changing = (clip != clip[:, :1]).any(0).any(0)  # the moving region, found from pixels alone
        if (sx, sy) == (0, 0):
            assert not changing.any()
            continue
        rows, cols = changing.any(1).nonzero(), changing.any(0).nonzero()
        box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
        steps = clip_steps(clip, box)
        assert torch.allclose(steps.mean(0), torch.tensor([sx, sy]) * 32 / 2 / 7, atol=0.2)
    assert len(seen) >= 4


def test_a_corrupt_image_in_a_folder_fails_with_its_path(tmp_path):
    Image.fromarray(np.zeros((60, 60, 3), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    ds = MoSIDataset(ImageFileSource.from_folder(tmp_path), make())
    assert ds[0]["clip"].shape[0] == 9
    with pytest.raises(MoSIError, match=r"zz_broken\.jpg"):
        ds[1]


def test_an_image_too_small_fails_with_its_path(tmp_path):
    Image.fromarray(np.zeros((20, 60, 3), np.uint8)).save(tmp_path / "thin.png")
    ds = MoSIDataset(ImageFileSource.from_folder(tmp_path), make())
    with pytest.raises(MoSIError, match=r"thin\.png.*60x20"):
        ds[0]
