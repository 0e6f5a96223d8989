"""The relation module's masks, the RoI features, and the RoI vs relation heads of ActionDetector."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from vidstruct.models.detection import RelationModule, build_action_detector, pooled_feature_map, roi_features

TINY = {"widths": [8, 8, 16, 16], "input_mode": "diff"}


def _relation_inputs(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(2, 3, 12, generator=g)
    boxes = torch.tensor([[[0.1, 0.1, 0.3, 0.4], [0.5, 0.2, 0.8, 0.9], [0.0, 0.0, 1.0, 1.0]]]).repeat(2, 1, 1)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    fmap = torch.randn(2, 12, 3, 3, generator=g)
    return {"actor_feats": feats, "actor_boxes": boxes, "actor_mask": mask, "feature_map": fmap}


def test_a_padded_actor_slot_changes_nothing_a_real_actor_does() -> None:
    torch.manual_seed(0)
    module = RelationModule(12, dim=16, layers=2, heads=4, dropout=0.0).eval()
    x = _relation_inputs()
    out = module(**x)
    assert out.shape == (2, 3, 16)
    padded = {**x, "actor_feats": x["actor_feats"].clone(), "actor_boxes": x["actor_boxes"].clone()}
    padded["actor_feats"][0, 2] += 100.0  # clip 0's third slot and clip 1's second and third are padding
    padded["actor_boxes"][1, 1:] = torch.tensor([0.4, 0.4, 0.6, 0.6])
    out_padded = module(**padded)
    torch.testing.assert_close(out_padded[0, :2], out[0, :2], rtol=0, atol=1e-6)
    torch.testing.assert_close(out_padded[1, :1], out[1, :1], rtol=0, atol=1e-6)
    moved = {**x, "actor_boxes": x["actor_boxes"].clone()}
    moved["actor_boxes"][0, 1] = torch.tensor([0.0, 0.6, 0.2, 0.95])  # the other real actor of clip 0 moves
    out_moved = module(**moved)
    assert (out_moved[0, 0] - out[0, 0]).abs().max() > 1e-3  # actor 0 sees it
    torch.testing.assert_close(out_moved[1], out[1], rtol=0, atol=1e-6)  # clip 1 is another clip


def test_object_tokens_are_attended_and_their_padding_is_masked() -> None:
    torch.manual_seed(0)
    module = RelationModule(12, dim=16, layers=1, heads=2, dropout=0.0).eval()
    x = _relation_inputs()
    objects = torch.randn(2, 2, 12)
    object_boxes = torch.tensor([[[0.2, 0.2, 0.3, 0.3], [0.6, 0.6, 0.7, 0.7]]]).repeat(2, 1, 1)
    object_mask = torch.tensor([[True, False], [True, True]])
    base = module(**x, object_feats=objects, object_boxes=object_boxes, object_mask=object_mask)
    changed_pad = objects.clone()
    changed_pad[0, 1] -= 50.0
    same = module(**x, object_feats=changed_pad, object_boxes=object_boxes, object_mask=object_mask)
    torch.testing.assert_close(same[0, :2], base[0, :2], rtol=0, atol=1e-6)
    changed_real = objects.clone()
    changed_real[0, 0] -= 50.0
    other = module(**x, object_feats=changed_real, object_boxes=object_boxes, object_mask=object_mask)
    assert (other[0, 0] - base[0, 0]).abs().max() > 1e-3
    without = module(**x)
    assert (without[0, 0] - base[0, 0]).abs().max() > 1e-3


def test_roi_features_max_pool_a_roi_align_grid() -> None:
    # a 4 x 4 map whose value is the column index x; the box [0.5, 0, 1, 1] is columns 2..4 in map units.
    # aligned=True shifts by half a pixel: with a 2 x 2 grid and one sample per bin (bin width 1) the samples sit at
    # x = 2.5 and 3.5 in box units, i.e. 2.0 and 3.0 on the pixel-centre grid -> values 2 and 3; the max is 3.
    fmap = torch.arange(4.0).repeat(4, 1)[None, None]
    out = roi_features(fmap, torch.tensor([[0.5, 0.0, 1.0, 1.0]]), torch.tensor([0]), size=2)
    assert out.shape == (1, 1) and out.item() == pytest.approx(3.0)
    # the left half: samples at 0.5 and 1.5 -> 0.0 and 1.0 -> max 1
    left = roi_features(fmap, torch.tensor([[0.0, 0.0, 0.5, 1.0]]), torch.tensor([0]), size=2)
    assert left.item() == pytest.approx(1.0)
    # time pooling first: the mean of T' slices, and pathways concatenated along channels
    maps = [torch.stack([torch.zeros(2, 2), torch.ones(2, 2) * 4])[None, None], torch.ones(1, 3, 1, 2, 2)]
    pooled = pooled_feature_map(maps)
    assert pooled.shape == (1, 4, 2, 2) and pooled[0, 0].eq(2.0).all() and pooled[0, 1:].eq(1.0).all()


@pytest.mark.parametrize("head", ["roi", "relation"])
def test_detector_heads_differ_in_whether_actors_see_each_other(head: str) -> None:
    torch.manual_seed(0)
    model = build_action_detector(
        "r2plus1d_tiny", 5, backbone_kwargs=TINY, head=head, relation_dim=16, relation_heads=2, dropout=0.0,
        relation_dropout=0.0,
    ).eval()  # fmt: skip
    assert (model.relation is None) == (head == "roi")
    clip = torch.randn(2, 3, 4, 32, 32)
    boxes = torch.tensor([[[0.1, 0.1, 0.4, 0.5], [0.5, 0.5, 0.9, 0.9]]]).repeat(2, 1, 1)
    mask = torch.tensor([[True, True], [True, False]])
    logits = model(clip, boxes, mask)
    assert logits.shape == (2, 2, 5) and logits[1, 1].eq(0).all()  # padded slots hold 0
    probs = model.predict(clip, boxes, mask)
    assert ((probs > 0) & (probs < 1)).all()
    moved = boxes.clone()
    moved[0, 1] = torch.tensor([0.0, 0.6, 0.3, 1.0])
    delta = (model(clip, moved, mask)[0, 0] - logits[0, 0]).abs().max().item()
    if head == "roi":
        assert delta < 1e-6  # the plain RoI head scores each actor alone
    else:
        assert delta > 1e-4  # the relation head: actor 0 attends to actor 1


def test_roi_features_equal_a_per_box_reference_implementation() -> None:
    # the straightforward loops of benchmarks/roi_align.py (RoIAlign aligned=True, adaptive sampling, max over bins)
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "roi_align.py"
    spec = importlib.util.spec_from_file_location("bench_roi_align_reference", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    g = torch.Generator().manual_seed(1)
    fmap = torch.randn(2, 6, 9, 7, generator=g)  # H != W
    boxes = torch.cat([bench.random_boxes(5, g), torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.9, 0.95, 1.0, 1.0]])])
    index = torch.tensor([0, 1, 1, 0, 1, 0, 1])
    for size in (1, 3):
        torch.testing.assert_close(
            roi_features(fmap, boxes, index, size), bench.reference_roi_features(fmap, boxes, index, size),
            rtol=0, atol=1e-5,
        )  # fmt: skip
