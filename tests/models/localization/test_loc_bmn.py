"""BMN: shapes, implementation equivalence, reference parameter names, and a toy overfit that localizes."""

from __future__ import annotations

import pytest
import torch

from vidstruct.data.tiou import pairwise_tiou
from vidstruct.errors import ConfigError, ShapeError
from vidstruct.eval.localization.decode import decode_bmn
from vidstruct.models import MODELS
from vidstruct.models.localization.targets import bmn_targets_batch

SMALL = {"hidden_dim_1d": 16, "hidden_dim_2d": 8, "hidden_dim_3d": 16, "num_sample": 8}


def test_forward_shapes_and_ranges() -> None:
    torch.manual_seed(0)
    model = MODELS.build("bmn", feat_dim=32, temporal_scale=40, max_duration=24, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 32, 40), return_features=True)
    assert out["start"].shape == out["end"].shape == (3, 40)
    assert out["confidence"].shape == (3, 2, 24, 40)
    assert out["pem_1d"].shape == (3, 16, 40) and out["pem_2d"].shape == (3, 8, 24, 40)
    for key in ("start", "end", "confidence"):
        assert 0 <= out[key].min() and out[key].max() <= 1
    with pytest.raises(ShapeError, match=r"\[B, 32, 40\]"):
        model(torch.randn(1, 32, 41))


def test_reference_parameter_names_and_shapes() -> None:
    model = MODELS.build("bmn")  # BMN's ActivityNet defaults: 400-d features, T = 100
    sd = model.state_dict()
    assert sd["x_1d_b.0.weight"].shape == (256, 100, 3)  # groups = 4
    assert sd["x_3d_p.0.weight"].shape == (512, 256, 32, 1, 1)
    assert sd["x_2d_p.6.weight"].shape == (2, 128, 1, 1)
    assert not any("mask" in k or "chunks" in k for k in sd)  # sampling tables are not saved


@pytest.mark.parametrize("impl", ["gather", "dense"])
def test_bm_implementations_agree(impl: str) -> None:
    torch.manual_seed(0)
    fused = MODELS.build("bmn", feat_dim=16, temporal_scale=20, **SMALL).eval()
    other = MODELS.build("bmn", feat_dim=16, temporal_scale=20, bm_impl=impl, **SMALL).eval()
    other.load_state_dict(fused.state_dict())
    x = torch.randn(2, 16, 20)
    a, b = fused(x), other(x)
    for key in ("start", "end", "confidence"):
        assert torch.allclose(a[key], b[key], atol=1e-5)


def test_builder_errors() -> None:
    with pytest.raises(ConfigError, match="bm_impl"):
        MODELS.build("bmn", bm_impl="sparse")
    with pytest.raises(ConfigError, match="feat_dim"):
        MODELS.build("bmn", feat_dim=30)
    with pytest.raises(ConfigError, match="max_duration"):
        MODELS.build("bmn", temporal_scale=10, max_duration=20)


def _toy() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One 16-snippet video (16 s) whose snippets 4..10 (the action, [4 s, 11 s]) have distinct features."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 8, 16, generator=g) * 0.3
    feats[0, :4, 4:11] += 1.5
    return feats, bmn_targets_batch([([[4.0, 11.0]], 16.0)], temporal_scale=16)


def _overfit(model: torch.nn.Module, steps: int) -> tuple[float, float]:
    feats, targets = _toy()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    first = last = 0.0
    for step in range(steps):
        loss = model.loss(model(feats), targets, generator=gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if step == 0 else first
        last = loss.item()
    return first, last


def test_toy_overfit_localizes_the_action() -> None:
    torch.manual_seed(0)
    model = MODELS.build(
        "bmn", feat_dim=8, temporal_scale=16, hidden_dim_1d=32, hidden_dim_2d=16, hidden_dim_3d=32, num_sample=8
    )
    first, last = _overfit(model, 150)
    assert last < first / 10
    feats, _ = _toy()
    with torch.no_grad():
        proposals = decode_bmn(model.eval()(feats), [16.0])[0]
    assert proposals.shape[1] == 3 and proposals[0, 2] >= proposals[-1, 2]
    tiou = pairwise_tiou(proposals[:1, :2], torch.tensor([[4.0, 11.0]]))
    assert tiou.item() > 0.7


def test_joint_relation_training() -> None:
    torch.manual_seed(0)
    model = MODELS.build(
        "bmn", feat_dim=8, temporal_scale=16, hidden_dim_1d=32, hidden_dim_2d=16, hidden_dim_3d=32, num_sample=8,
        relation=True, relation_top_k=20, relation_dim=32, relation_dropout=0.0,
    )  # fmt: skip
    feats, targets = _toy()
    out = model(feats)
    assert out["proposal_cells"].shape == (1, 20, 2) and out["rel_offsets"].shape == (1, 20, 2)
    losses = model.loss(out, targets)
    assert {"relation", "rel_cls", "rel_iou", "rel_offset", "tem"} <= set(losses)
    assert losses["loss"].item() == pytest.approx(
        (losses["tem"] + 10 * losses["pem_reg"] + losses["pem_cls"] + losses["relation"]).item(), rel=1e-5
    )
    first, last = _overfit(model, 120)
    assert last < first / 4
    with torch.no_grad():
        proposals = decode_bmn(model.eval()(feats), [16.0])[0]  # refined by the relation head
    assert proposals.shape == (20, 3)
    assert pairwise_tiou(proposals[:1, :2], torch.tensor([[4.0, 11.0]])).item() > 0.7
    with pytest.raises(ValueError, match="segments"):
        model.loss(model(feats), {k: v for k, v in targets.items() if k != "segments"})
