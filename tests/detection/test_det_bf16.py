"""bf16 autocast on CPU: the weight gradient of a Conv3d whose input is shorter in time than its kernel
(:mod:`vidstruct.models.resnet3d.conv`), and several bf16 training steps of the detector on a tiny batch."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from detkit import detection_overrides
from torch.nn import functional as F

from vidstruct.config import load_task_config
from vidstruct.data.detection import collate_keyframes
from vidstruct.models.resnet3d.conv import TemporalConv3d
from vidstruct.recipes.detection import build_detector, detection_data, detection_loss

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "detection"


def test_several_bf16_steps_keep_gradients_finite_and_overfit_a_tiny_batch(detect_data: Path) -> None:
    # the configured detector (R(2+1)D tiny, frame differences, relation head) under CPU bf16 autocast: before the
    # fix the backbone's gradients went NaN at step 2-3 (a (3, 1, 1) conv on the T = 2 map of its third stage)
    torch.set_num_threads(1)
    extra = ("data.transform.hflip=false", "data.transform.flip_pairs=[]", "data.transform.box_jitter=0")
    task = load_task_config(CONFIGS / "synth_relation_tiny.yaml", detection_overrides(detect_data, *extra))
    data = detection_data(task.cfg)
    torch.manual_seed(0)
    model, _ = build_detector(task.cfg, len(data.classes), task.composed)
    batch = collate_keyframes([data.train[i] for i in range(4)])
    start = copy.deepcopy(model.state_dict())

    def train(autocast: bool) -> list[float]:
        model.load_state_dict(start)
        torch.manual_seed(1)  # the same dropout masks in both runs
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
        model.train()
        losses = []
        for step in range(10):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = detection_loss(model, batch, torch.device("cpu"))
            optimizer.zero_grad()
            loss.backward()
            bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
            assert not bad, f"step {step + 1}: non-finite gradients in {bad[:5]}"
            losses.append(float(loss.detach()))
            optimizer.step()
        assert all(torch.isfinite(p).all() for p in model.parameters())
        return losses

    bf16, fp32 = train(True), train(False)
    # it learns (the loss falls on a batch it sees every step) and as float32 training does: bf16 rounding moves
    # each loss by a few percent, a broken gradient by far more
    assert bf16[-1] < 0.8 * bf16[0], bf16
    assert abs(bf16[-1] - fp32[-1]) < 0.1 * fp32[0], (bf16, fp32)


@pytest.mark.parametrize(("frames", "kernel"), [(2, 3), (3, 5), (4, 5), (8, 3)])
def test_a_temporal_conv_has_the_float32_weight_gradient_under_cpu_bf16_autocast(frames: int, kernel: int) -> None:
    # 32 channels, T < kt: oneDNN's bf16 weight gradient is garbage (1e36, NaN) there (or not, depending on which
    # conv3d shapes ran before in the process: the training test comes first); T >= kt takes the bf16 path
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 32, frames, 4, 4, generator=g).bfloat16().float()  # values bf16 can hold exactly
    grad_out = torch.randn(2, 32, frames, 4, 4, generator=g).bfloat16().float()
    conv = TemporalConv3d(32, 32, (kernel, 1, 1), padding=(kernel // 2, 0, 0), bias=False)
    with torch.no_grad():
        conv.weight.copy_(conv.weight.bfloat16().float())
    # reference: float64, by the functional op
    w64 = conv.weight.detach().double().requires_grad_()
    F.conv3d(x.double(), w64, None, 1, (kernel // 2, 0, 0)).backward(grad_out.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    assert y.dtype == torch.bfloat16  # what autocast gives the next layer, either way
    y.backward(grad_out.bfloat16())
    got = conv.weight.grad
    assert torch.isfinite(got).all()
    scale = w64.grad.abs().max().item()
    assert (got.double() - w64.grad).abs().max().item() < 0.02 * scale
