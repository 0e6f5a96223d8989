"""The one device resolver (:mod:`vidstruct.device`) and its one-line errors through the CLI (predict, train).

The machine's devices are pinned with monkeypatch (no CUDA, no MPS; or one CUDA device), so the expected
messages are the same on a CPU box and on a GPU box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vidstruct.cli.main import main
from vidstruct.device import resolve_device
from vidstruct.errors import ConfigError
from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint

NO_CUDA = f"CUDA is not available on this machine (torch {torch.__version__} is built without CUDA)"


@pytest.fixture()
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with neither CUDA nor MPS, and a torch built without CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture()
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cuda", f"--device cuda: {NO_CUDA}; use --device cpu"),
        ("gpu", f"--device gpu: {NO_CUDA}; use --device cpu"),
        ("cuda:3", f"--device cuda:3: {NO_CUDA}; use --device cpu"),
        ("mps", "--device mps: MPS (Apple GPU) is not available on this machine; use --device cpu"),
        ("tpu", "--device tpu: unknown device (expected auto, cpu, cuda, cuda:N, gpu (= cuda), mps)"),
        ("cuda:x", "--device cuda:x: unknown device (expected auto, cpu, cuda, cuda:N, gpu (= cuda), mps)"),
        ("meta", "--device meta: unsupported device type 'meta' (expected auto, cpu, cuda, cuda:N, gpu (= cuda), mps)"),
    ],
)
def test_unusable_devices_are_one_line_config_errors(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve_device(name)
    assert str(exc.value) == message


@pytest.mark.usefixtures("no_gpu")
def test_cpu_and_auto_without_gpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto", local_rank=3) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.usefixtures("one_gpu")
def test_cuda_names_with_one_gpu() -> None:
    assert resolve_device("auto") == torch.device("cuda:0")
    assert resolve_device("gpu") == torch.device("cuda:0")  # gpu is an alias of cuda
    assert resolve_device("cuda") == torch.device("cuda:0")
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda:0")
    with pytest.raises(ConfigError) as exc:
        resolve_device("cuda:3")
    assert str(exc.value) == (
        "--device cuda:3: this machine has 1 CUDA device(s) (cuda:0..cuda:0); use --device cuda:0 or --device cpu"
    )
    with pytest.raises(ConfigError, match=r"^train\.device cuda: this machine has 1 CUDA device.*use train\.device="):
        resolve_device("cuda", local_rank=1, where="train.device")  # torchrun's second process on a 1-GPU node


# ------------------------------------------------------------------------------------------- through the CLI
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = MODELS.build("r2plus1d_tiny", num_classes=3, widths=[4, 4, 4, 4])
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return save_model_checkpoint(path, model.eval(), model_name="r2plus1d_tiny", model_kwargs={"widths": [4, 4, 4, 4]})


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (20, 64, 64, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("video") / "v.mp4", frames, 25.0)


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("name", ["cuda", "gpu", "mps", "cuda:3", "nonsense"])
def test_predict_device_error_is_one_line_exit_2(
    name: str, checkpoint: Path, video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--device", name]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"error: --device {name}: ")
    assert "--device cpu" in captured.err or "unknown device" in captured.err


@pytest.mark.usefixtures("no_gpu")
def test_predict_on_cpu_still_works(checkpoint: Path, video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--device", "cpu", "--json"]) == 0
    assert "predictions" in capsys.readouterr().out


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    """A recognition config whose data files do not exist: a device error must come before any data is read."""
    path = tmp_path / "exp.yaml"
    cfg = {
        "model": {"name": "r2plus1d_tiny", "widths": [4, 4, 4, 4]},
        "data": {"train": {"format": "kinetics", "annotations": str(tmp_path / "missing.txt")}},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--device", "cuda"], f"error: --device cuda: {NO_CUDA}; use --device cpu"),
        (["--device", "gpu"], f"error: --device gpu: {NO_CUDA}; use --device cpu"),
        (["train.device=cuda:1"], f"error: train.device cuda:1: {NO_CUDA}; use train.device=cpu"),
        (["train.device=mps"], "error: train.device mps: MPS (Apple GPU) is not available"),
    ],
)
def test_train_device_error_is_one_line_before_any_work(
    args: list[str], start: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run_dir), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(start), err
    assert not run_dir.exists()
