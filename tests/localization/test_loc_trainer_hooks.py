"""The engine's optional ``loss_fn`` / ``evaluate_fn`` hooks (classification stays the default: tests/engine)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from vidstruct.engine.settings import OptimSettings, TrainSettings
from vidstruct.engine.trainer import train
from vidstruct.errors import ConfigError


class Pairs(Dataset):
    """4 samples ``{"x": [3], "y": [1]}`` without any ``"clip"``."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(4, 3, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


def mse(net: nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
    return ((net(batch["x"].to(device)) - batch["y"].to(device)) ** 2).mean()


def settings(**kw: object) -> TrainSettings:
    base = dict(max_steps=5, batch_size=4, device="cpu", ckpt_every=100, log_every=1, tensorboard=False)
    return TrainSettings(**{**base, **kw})  # type: ignore[arg-type]


SGD = OptimSettings(name="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, schedule="constant")


def test_loss_fn_trains_exactly_like_a_manual_sgd_loop(tmp_path: Path) -> None:
    data = Pairs()
    torch.manual_seed(1)
    model = nn.Linear(3, 1)
    reference = nn.Linear(3, 1)
    reference.load_state_dict(model.state_dict())
    calls: list[int] = []

    def evaluate_fn(m: nn.Module) -> dict[str, float]:
        calls.append(1)
        with torch.no_grad():
            return {"val_mse": float(mse(m, {"x": data.x, "y": data.y}, torch.device("cpu")))}

    result = train(model, data, settings=settings(eval_every=2), optim=SGD, run_dir=tmp_path, loss_fn=mse,
                   evaluate_fn=evaluate_fn)  # fmt: skip
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(5):  # every batch is the whole dataset (the mean does not depend on the order)
        opt.zero_grad()
        ((reference(data.x) - data.y) ** 2).mean().backward()
        opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert len(calls) == 3  # steps 2 and 4, and at the end
    expected = float(((reference(data.x) - data.y) ** 2).mean().detach())
    assert result.metrics == {"val_mse": pytest.approx(expected, rel=1e-5)}
    assert result.final.is_file() and result.step == 5


def test_mixup_is_refused_with_a_custom_loss(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mixup"):
        train(nn.Linear(3, 1), Pairs(), settings=settings(mixup_alpha=0.2), optim=SGD, run_dir=tmp_path, loss_fn=mse)
