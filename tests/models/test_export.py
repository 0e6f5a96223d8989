"""Model export: written atomically, and a file that fails its parity check is never left at ``out``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from vidstruct.models.export import ExportError, export_model

SHAPE = (3, 2, 8, 8)  # [C, T, H, W]


class Linear(nn.Module):
    """A deterministic classifier over flattened clips (3 classes)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 2 * 8 * 8, 3)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.fc(clip.flatten(1))


class Noisy(Linear):
    """Random logits at every call: the exported file cannot reproduce PyTorch's probabilities."""

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return super().forward(clip) + 20.0 * torch.rand(clip.shape[0], 3)


def _example() -> torch.Tensor:
    return torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(0))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_passes_its_parity_check(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"m.{fmt}"
    result = export_model(Linear().eval(), _example(), out, fmt)  # type: ignore[arg-type]
    assert result.path == out and out.is_file()
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5
    assert _leftovers(tmp_path) == [out.name]  # no temporary file left beside it
    assert export_model(Linear().eval(), _example(), tmp_path / "n.pt", "torchscript", check=False).max_abs_diff is None


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_failed_parity_check_leaves_no_file_and_keeps_the_old_one(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "model.bin"
    with pytest.raises(ExportError, match="differ from PyTorch's"):
        export_model(Noisy().eval(), _example(), out, fmt)  # type: ignore[arg-type]
    assert _leftovers(tmp_path) == []  # neither the file nor its temporary
    out.write_bytes(b"previous export")
    with pytest.raises(ExportError, match="nothing was written"):
        export_model(Linear().eval(), _example(), out, fmt, atol=-1.0)  # type: ignore[arg-type]
    assert out.read_bytes() == b"previous export" and _leftovers(tmp_path) == [out.name]


def test_unknown_format_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format"):
        export_model(Linear(), _example(), tmp_path / "m.x", "tflite")  # type: ignore[arg-type]
    assert _leftovers(tmp_path) == []
