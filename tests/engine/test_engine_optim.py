"""Parameter groups (no decay on norms / biases, layer-wise LR decay), optimizers and LR schedules."""

from __future__ import annotations

import pytest
import torch
from enginekit import TinyTransformer, TinyVideoNet
from torch import nn

from vidstruct.engine.optim import build_optimizer, build_scheduler, layer_ids, lr_factor, param_groups
from vidstruct.engine.settings import OptimSettings
from vidstruct.errors import ConfigError


def _group_of(groups: list[dict], name: str) -> dict:
    return next(g for g in groups if name in g["names"])


def test_no_weight_decay_on_norms_biases_and_scalars():
    model = TinyVideoNet(batchnorm=True)
    groups = param_groups(model, OptimSettings(weight_decay=0.05))
    assert _group_of(groups, "features.0.weight")["weight_decay"] == 0.05  # conv kernel, ndim 5
    assert _group_of(groups, "head.weight")["weight_decay"] == 0.05
    for name in ("features.0.bias", "features.1.weight", "features.1.bias", "head.bias"):  # ndim 1
        assert _group_of(groups, name)["weight_decay"] == 0.0, name
    # every trainable parameter is in exactly one group
    names = [n for g in groups for n in g["names"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())
    off = param_groups(model, OptimSettings(weight_decay=0.05, no_decay_norm_bias=False))
    assert all(g["weight_decay"] == 0.05 for g in off)


def test_layer_decay_from_block_names():
    model = TinyTransformer(depth=3)
    ids, num_layers = layer_ids(model)
    assert num_layers == 3
    assert ids["cls_token"] == 0 and ids["patch_embed.weight"] == 0  # before the blocks
    assert ids["blocks.0.linear1.weight"] == 1 and ids["blocks.2.norm2.bias"] == 3
    assert ids["norm.weight"] == 4 and ids["head.weight"] == 4  # after the blocks
    groups = param_groups(model, OptimSettings(layer_decay=0.5))
    # scale = 0.5 ** (num_layers + 1 - id) = 0.5 ** (4 - id)
    assert _group_of(groups, "patch_embed.weight")["lr_scale"] == pytest.approx(1 / 16)
    assert _group_of(groups, "blocks.0.linear1.weight")["lr_scale"] == pytest.approx(1 / 8)
    assert _group_of(groups, "blocks.1.linear1.weight")["lr_scale"] == pytest.approx(1 / 4)
    assert _group_of(groups, "blocks.2.linear1.weight")["lr_scale"] == pytest.approx(1 / 2)
    assert _group_of(groups, "head.weight")["lr_scale"] == 1.0
    # no-decay split is kept inside each layer
    assert _group_of(groups, "blocks.1.linear1.bias")["weight_decay"] == 0.0
    assert _group_of(groups, "blocks.1.linear1.weight")["weight_decay"] > 0
    opt = build_optimizer(model, OptimSettings(name="adamw", lr=0.2, layer_decay=0.5))
    assert isinstance(opt, torch.optim.AdamW)
    assert _group_of(opt.param_groups, "blocks.0.linear1.weight")["lr"] == pytest.approx(0.2 / 8)


def test_layer_decay_uses_model_layer_id():
    class Custom(nn.Module):
        num_layers = 1

        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def layer_id(self, name: str) -> int:
            return 0 if name.startswith("a.") else 2

    groups = param_groups(Custom(), OptimSettings(layer_decay=0.1))
    assert _group_of(groups, "a.weight")["lr_scale"] == pytest.approx(0.01)  # 0.1 ** (1 + 1 - 0)
    assert _group_of(groups, "b.weight")["lr_scale"] == 1.0


def test_layer_decay_without_layers_is_a_config_error():
    with pytest.raises(ConfigError, match="layer_decay"):
        param_groups(TinyVideoNet(), OptimSettings(layer_decay=0.75))


def test_warmup_cosine_factor_by_hand():
    f = lr_factor(OptimSettings(lr=1.0, warmup_steps=4, warmup_start_factor=0.2, min_lr=0.1), max_steps=12)
    assert f(0) == pytest.approx(0.2)
    assert f(2) == pytest.approx(0.6)  # 0.2 + 0.8 * 2/4
    assert f(4) == pytest.approx(1.0)  # cosine progress 0
    assert f(8) == pytest.approx(0.55)  # progress 4/8: 0.1 + 0.9 * 0.5 * (1 + cos(pi/2))
    assert f(12) == pytest.approx(0.1)  # min_lr / lr
    assert f(50) == pytest.approx(0.1)


def test_step_schedule_by_hand():
    f = lr_factor(OptimSettings(schedule="step", milestones=[6, 3], gamma=0.1), max_steps=10)
    assert [f(s) for s in (0, 2, 3, 5, 6, 9)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lr_factor(OptimSettings(schedule="constant", warmup_steps=2, warmup_start_factor=0.5), 10)(1) == 0.75


def test_scheduler_steps_optimizer_lr_per_group():
    model = TinyTransformer(depth=1)
    settings = OptimSettings(name="sgd", lr=0.4, layer_decay=0.5, schedule="step", milestones=[2], gamma=0.5)
    opt = build_optimizer(model, settings)
    sched = build_scheduler(opt, settings, max_steps=5)
    head, embed = _group_of(opt.param_groups, "head.weight"), _group_of(opt.param_groups, "patch_embed.weight")
    assert (head["lr"], embed["lr"]) == pytest.approx((0.4, 0.1))  # embed: 0.5 ** (1 + 1 - 0) = 1/4
    for _ in range(2):
        opt.step()
        sched.step()
    assert (head["lr"], embed["lr"]) == pytest.approx((0.2, 0.05))  # milestone 2 halves every group
    assert opt.defaults["momentum"] == 0.9
