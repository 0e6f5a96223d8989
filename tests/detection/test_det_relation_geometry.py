"""The relation module's relative pair geometry: the pair features, the attention that uses them, and the
``relation_geometry`` choice through the builder, the checkpoint and the config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from detkit import detection_overrides

from vidstruct.config import load_task_config
from vidstruct.errors import ConfigError
from vidstruct.models.detection import RelationModule, build_action_detector, load_detector, save_detector
from vidstruct.models.detection.relation import RelationBlock, pairwise_geometry

TINY = {"widths": [8, 8, 16, 16], "input_mode": "diff"}
PREP = {"num_frames": 4, "frame_interval": 2, "target_fps": 25, "size": 32, "mean": [0.45] * 3, "std": [0.225] * 3}
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detection" / "synth_relation_tiny.yaml"


def test_pairwise_geometry_is_the_key_box_seen_from_the_query_box() -> None:
    query = torch.tensor([[[0.1, 0.2, 0.3, 0.4]]])  # centre (0.2, 0.3), 0.2 x 0.2
    keys = torch.tensor([[[0.5, 0.6, 0.9, 0.7], [0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 0.0, 0.0]]])
    g = pairwise_geometry(query, keys)
    assert g.shape == (1, 1, 3, 5)
    # key 0: centre (0.7, 0.65), 0.4 x 0.1 -> offset (0.5, 0.35), distance sqrt(0.25 + 0.1225), log(2), log(0.5)
    expected = [0.5, 0.35, math.sqrt(0.3725), math.log(2.0), math.log(0.5)]
    torch.testing.assert_close(g[0, 0, 0], torch.tensor(expected), rtol=0, atol=1e-6)
    torch.testing.assert_close(g[0, 0, 1], torch.zeros(5), rtol=0, atol=1e-5)  # itself: no offset, equal sides
    # a zero (padding) box stays finite: sides floored at 1e-3
    assert torch.isfinite(g).all()
    assert g[0, 0, 2, 3].item() == pytest.approx(math.log(1e-3 / 0.2), rel=1e-5)
    # seen from the other side, the offset flips sign and the ratios invert
    back = pairwise_geometry(keys[:, :1], query)
    torch.testing.assert_close(back[0, 0, 0, [0, 1, 3, 4]], -g[0, 0, 0, [0, 1, 3, 4]], rtol=0, atol=1e-6)


def test_relative_attention_with_zero_pair_terms_is_plain_multihead_attention() -> None:
    torch.manual_seed(0)
    block = RelationBlock(16, 4, dropout=0.0, relative=True).eval()
    for layer in (block.pair_bias, block.pair_value):
        assert layer is not None
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    actors, others = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    padding = torch.zeros(2, 8, dtype=torch.bool)
    padding[1, 2] = True  # clip 1's third actor is padding
    pairs = torch.randn(2, 3, 8, 16)
    plain = RelationBlock(16, 4, dropout=0.0, relative=False).eval()
    plain.load_state_dict({k: v for k, v in block.state_dict().items() if not k.startswith("pair_")})
    torch.testing.assert_close(block(actors, others, padding, pairs), plain(actors, others, padding), rtol=0, atol=1e-5)


def test_pair_bias_steers_attention_and_pair_values_carry_geometry() -> None:
    torch.manual_seed(0)
    block = RelationBlock(8, 1, dropout=0.0, relative=True).eval()
    assert block.pair_bias is not None and block.pair_value is not None
    with torch.no_grad():
        block.attn.in_proj_weight.zero_()  # q . k = 0 and v = 0: only the pair terms are left
        block.attn.in_proj_bias.zero_()  # type: ignore[union-attr]
        block.attn.out_proj.weight.copy_(torch.eye(8))
        block.attn.out_proj.bias.zero_()
        block.pair_bias.weight.zero_()
        block.pair_bias.bias.zero_()
        block.pair_bias.weight[0, 0] = 1.0  # logit bias = pair feature 0
        block.pair_value.weight.copy_(torch.eye(8))
        block.pair_value.bias.zero_()
    pairs = torch.zeros(1, 1, 2, 8)
    pairs[0, 0, 0, 0], pairs[0, 0, 1, 0] = 0.0, math.log(3.0)  # key 1 gets 3x the weight of key 0
    pairs[0, 0, 0, 1], pairs[0, 0, 1, 1] = 1.0, 5.0
    out = block._relative_attention(torch.zeros(1, 1, 8), torch.zeros(1, 2, 8), torch.zeros(1, 2, dtype=torch.bool),
                                    pairs)  # fmt: skip
    # weights 1/4, 3/4: out = sum_j w_j * pairs_j
    assert out[0, 0, 0].item() == pytest.approx(0.75 * math.log(3.0), abs=1e-6)
    assert out[0, 0, 1].item() == pytest.approx(0.25 * 1.0 + 0.75 * 5.0, abs=1e-6)
    masked = block._relative_attention(torch.zeros(1, 1, 8), torch.zeros(1, 2, 8), torch.tensor([[False, True]]),
                                       pairs)  # fmt: skip
    assert masked[0, 0, 1].item() == pytest.approx(1.0, abs=1e-6)  # a padded key gets no weight


def _inputs() -> dict:
    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[[0.1, 0.1, 0.3, 0.4], [0.5, 0.2, 0.8, 0.9], [0.0, 0.0, 0.0, 0.0]]]).repeat(2, 1, 1)
    return {
        "actor_feats": torch.randn(2, 3, 12, generator=g),
        "actor_boxes": boxes,
        "actor_mask": torch.tensor([[True, True, False], [True, False, False]]),
        "feature_map": torch.randn(2, 12, 3, 3, generator=g),
    }


def test_relative_module_masks_padding_and_sees_where_the_other_actor_is() -> None:
    torch.manual_seed(0)
    module = RelationModule(12, dim=16, layers=2, heads=4, dropout=0.0, geometry="relative").eval()
    assert module.pair_geometry is not None
    x = _inputs()
    out = module(**x)
    assert out.shape == (2, 3, 16) and torch.isfinite(out).all()  # the zero padding box gives no NaN
    padded = {**x, "actor_feats": x["actor_feats"].clone(), "actor_boxes": x["actor_boxes"].clone()}
    padded["actor_feats"][0, 2] += 100.0
    padded["actor_boxes"][1, 1:] = torch.tensor([0.4, 0.4, 0.6, 0.6])
    out_padded = module(**padded)
    torch.testing.assert_close(out_padded[0, :2], out[0, :2], rtol=0, atol=1e-5)
    torch.testing.assert_close(out_padded[1, :1], out[1, :1], rtol=0, atol=1e-5)
    moved = {**x, "actor_boxes": x["actor_boxes"].clone()}
    moved["actor_boxes"][0, 1] = torch.tensor([0.0, 0.6, 0.2, 0.95])
    assert (module(**moved)[0, 0] - out[0, 0]).abs().max() > 1e-3
    # gradients are finite through the padded slots too
    loss = module(**x)[x["actor_mask"]].sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)


def test_absolute_module_has_the_earlier_parameters_and_a_bad_kind_is_refused() -> None:
    absolute = RelationModule(12, dim=16, layers=1, heads=2, geometry="absolute")
    relative = RelationModule(12, dim=16, layers=1, heads=2, geometry="relative")
    extra = set(relative.state_dict()) - set(absolute.state_dict())
    assert set(absolute.state_dict()) < set(relative.state_dict())
    assert extra and all("pair_" in k for k in extra)
    with pytest.raises(ValueError, match="geometry"):
        RelationModule(12, dim=16, geometry="polar")


def _detector(geometry: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_action_detector(
        "r2plus1d_tiny", 3, backbone_kwargs=TINY, head="relation", relation_dim=16, relation_heads=2,
        relation_layers=1, relation_geometry=geometry,
    )  # fmt: skip


def _builder(**extra: object) -> dict:
    return {"backbone": "r2plus1d_tiny", "num_classes": 3, "backbone_kwargs": TINY, "head": "relation",
            "relation_dim": 16, "relation_heads": 2, "relation_layers": 1, **extra}  # fmt: skip


def _save(path: Path, model: torch.nn.Module, builder: dict) -> Path:
    return save_detector(path, model, name="t", builder=builder, classes=["a", "b", "c"], class_ids=[1, 2, 3],
                         preprocessing=PREP)  # fmt: skip


def test_checkpoint_records_the_geometry_of_its_weights(tmp_path: Path) -> None:
    clip, boxes, mask = torch.randn(1, 3, 4, 32, 32), torch.tensor([[[0.1, 0.1, 0.4, 0.5]]]), torch.tensor([[True]])
    relative = _detector("relative").eval()
    # the caller's builder dict lacks the key (or says otherwise): the file records what the weights are
    bundle = load_detector(_save(tmp_path / "rel.pt", relative, _builder(relation_geometry="absolute")))
    assert bundle.builder["relation_geometry"] == "relative"
    torch.testing.assert_close(bundle.model(clip, boxes, mask), relative(clip, boxes, mask))
    absolute = _detector("absolute").eval()
    path = _save(tmp_path / "abs.pt", absolute, _builder())
    assert load_detector(path).builder["relation_geometry"] == "absolute"
    # a file written before the choice existed (no key in its builder) holds absolute weights and loads so
    doc = torch.load(path, weights_only=True)
    del doc["builder"]["relation_geometry"]
    torch.save(doc, tmp_path / "old.pt")
    old = load_detector(tmp_path / "old.pt")
    assert old.builder["relation_geometry"] == "absolute"
    torch.testing.assert_close(old.model(clip, boxes, mask), absolute(clip, boxes, mask))


def test_config_geometry_defaults_to_absolute_and_is_checked(detect_data: Path) -> None:
    task = load_task_config(CONFIG, detection_overrides(detect_data), tasks=("detection",))
    assert task.cfg.model.relation.geometry == "absolute"
    assert build_action_detector("r2plus1d_tiny", 3, backbone_kwargs=TINY).relation.pair_geometry is None
    task = load_task_config(CONFIG, detection_overrides(detect_data, "model.relation.geometry=relative"))
    assert task.cfg.model.relation.geometry == "relative"
    with pytest.raises(ConfigError, match="geometry"):
        load_task_config(CONFIG, detection_overrides(detect_data, "model.relation.geometry=polar"))
