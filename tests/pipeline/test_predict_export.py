"""predict (probabilities, sliding windows, timeline) and export (ONNX parity, TorchScript) through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vidstruct.cli.main import main
from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint

CLASSES = ["left", "right", "up"]


def _tiny_checkpoint(path: Path, name: str, **kwargs: object) -> Path:
    torch.manual_seed(0)
    model = MODELS.build(name, num_classes=len(CLASSES), **kwargs)
    return save_model_checkpoint(path, model.eval(), model_name=name, model_kwargs=kwargs, classes=CLASSES)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", "r2plus1d_tiny", widths=[4, 4, 4, 4])


def _video(path: Path, frames: int, fps: float = 25.0, size: int = 64) -> Path:
    rng = np.random.default_rng(frames)
    return write_video(path, rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8), fps)


def _probs(predictions: list[dict]) -> list[float]:
    return [p["prob"] for p in predictions]


def test_predict_json_gives_sorted_probabilities_summing_to_one(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = _video(tmp_path / "v.mp4", 40)
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--top-k", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["video"] == str(video)
    probs = _probs(out["predictions"])
    assert sorted(p["label"] for p in out["predictions"]) == sorted(CLASSES)
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--top-k", "2", "--json"]) == 0
    top2 = json.loads(capsys.readouterr().out)["predictions"]
    assert top2 == out["predictions"][:2]


def test_predict_matches_model_softmax(tmp_path: Path, checkpoint: Path) -> None:
    """The recognizer's probabilities are softmax(model(clip)) of the documented preprocessing."""
    from vidstruct.data.samplers import IntervalSampler
    from vidstruct.data.transforms import build_eval_transform
    from vidstruct.io import VideoReader
    from vidstruct.models.checkpoint import load_model_checkpoint
    from vidstruct.pipeline.recognizer import Recognizer

    video = _video(tmp_path / "v.mp4", 50)
    model, _ = load_model_checkpoint(checkpoint)
    s = model.input_spec
    with VideoReader(video, short_side=s.short_side) as reader:
        idx = IntervalSampler(s.num_frames, s.frame_interval, 2, s.target_fps)(reader.num_frames, reader.fps, None)
        tf = build_eval_transform(short_side=s.short_side, crop_size=s.crop_size, mean=s.mean, std=s.std)
        clips = torch.stack([tf(reader.get_frames(i)) for i in idx])
    with torch.no_grad():
        expected = torch.softmax(model(clips), -1).mean(0)
    pred = Recognizer.from_checkpoint(checkpoint, device="cpu").predict_video(video, views=2, top_k=0)
    got = dict(zip(pred.labels, pred.probs))
    assert [got[c] for c in CLASSES] == pytest.approx(expected.tolist(), abs=1e-6)


def test_video_shorter_than_clip_is_padded(tmp_path: Path, checkpoint: Path, capsys) -> None:
    """Documented rule: a clip longer than the video repeats the last frame."""
    video = _video(tmp_path / "short.mp4", 3)
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--top-k", "0", "--json"]) == 0
    assert sum(_probs(json.loads(capsys.readouterr().out)["predictions"])) == pytest.approx(1.0, abs=1e-5)


def test_sliding_windows_and_timeline(tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = _video(tmp_path / "long.mp4", 100)  # 4 s at 25 fps
    png = tmp_path / "timeline.png"
    args = ["predict", str(video), "--checkpoint", str(checkpoint), "--window-s", "1", "--stride-s", "0.5"]
    assert main([*args, "--top-k", "0", "--timeline", str(png), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    starts = [w["start_s"] for w in out["windows"]]
    assert starts[:4] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert all(w["end_s"] - w["start_s"] <= 1.0 + 1e-6 for w in out["windows"])
    assert out["windows"][-1]["end_s"] <= 4.0 + 1e-6
    for window in out["windows"]:
        assert sum(_probs(window["predictions"])) == pytest.approx(1.0, abs=1e-5)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("bad", [["--window-s", "0"], ["--views", "0"]])
def test_predict_bad_arguments_are_one_line(tmp_path: Path, checkpoint: Path, capsys, bad: list[str]) -> None:
    video = _video(tmp_path / "v.mp4", 10)
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), *bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_predict_missing_checkpoint_and_bad_video(tmp_path: Path, checkpoint: Path, capsys) -> None:
    video = _video(tmp_path / "v.mp4", 10)
    assert main(["predict", str(video), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    assert main(["predict", str(junk), "--checkpoint", str(checkpoint)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "junk.mp4" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("x3d_tiny", {}),
        ("r2plus1d_tiny", {"widths": [4, 8, 8, 8], "input_mode": "rgb_diff"}),  # frame differences inside the graph
        ("vivit_b_joint", {"image_size": 32, "num_frames": 4, "hidden_size": 32, "depth": 2, "num_heads": 2,
                           "tubelet_size": [2, 8, 8]}),
    ],
)  # fmt: skip
def test_onnx_export_matches_pytorch(tmp_path: Path, capsys, name: str, kwargs: dict) -> None:
    from vidstruct.models.checkpoint import load_model_checkpoint
    from vidstruct.models.export import onnx_max_abs_diff

    ckpt = _tiny_checkpoint(tmp_path / f"{name}.pt", name, **kwargs)
    out = tmp_path / f"{name}.onnx"
    assert main(["export", str(ckpt), "--format", "onnx", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "onnx" and report["output"] == "probs" and report["max_abs_diff"] <= 1e-4
    model, _ = load_model_checkpoint(ckpt)
    # a batch size other than the one traced: the batch axis is dynamic
    clip = torch.randn(3, *model.input_spec.shape, generator=torch.Generator().manual_seed(1))
    assert onnx_max_abs_diff(model, out, clip) <= 1e-4


def test_torchscript_export_outputs_probabilities(tmp_path: Path, checkpoint: Path) -> None:
    from vidstruct.models.checkpoint import load_model_checkpoint

    out = tmp_path / "m.ts"
    assert main(["export", str(checkpoint), "--format", "torchscript", "--out", str(out)]) == 0
    model, _ = load_model_checkpoint(checkpoint)
    clip = torch.randn(2, *model.input_spec.shape)
    scripted = torch.jit.load(str(out))
    with torch.no_grad():
        probs = scripted(clip)
        assert torch.allclose(probs, torch.softmax(model(clip), -1), atol=1e-5)
    assert torch.allclose(probs.sum(-1), torch.ones(2), atol=1e-5)
