"""PyTorchVideo → vidstruct converters: same logits as the reference model with the same (random) weights."""

from __future__ import annotations

import subprocess
import sys

import pvshim
import pytest
import torch

from vidstruct.cli.main import main
from vidstruct.errors import CheckpointError, RegistryError
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import load_model_checkpoint, read_model_checkpoint
from vidstruct.models.convert import convert_checkpoint, get_converter, load_checkpoint_into

# (model, clip shape [B, C, T, H, W]): small clips keep CPU time low; both models pool globally.
CASES = [
    ("slow_r50", (2, 3, 4, 32, 32)),
    ("slowfast_r50", (1, 3, 16, 32, 32)),
    ("x3d_m", (2, 3, 4, 32, 32)),
    ("csn_r101", (1, 3, 8, 32, 32)),
    ("r2plus1d_r50", (1, 3, 8, 32, 32)),
    ("i3d_r50", (1, 3, 4, 32, 32)),
]


@pytest.mark.parametrize(("name", "shape"), CASES, ids=[c[0] for c in CASES])
def test_converted_weights_give_reference_logits(name: str, shape: tuple[int, ...]) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    reference = pvshim.make_resolution_agnostic(name, pvshim.randomize_norms(pvshim.build_reference(name)))
    converted = get_converter("pytorchvideo", name).fn(reference.state_dict())
    ours = MODELS.build(name).eval()
    report = load_checkpoint_into(ours, converted, strict=True, model_name=name)
    assert report.exact and report.loaded == len(reference.state_dict())

    clip = torch.randn(shape)
    expected = pvshim.reference_forward(name, reference, clip)
    with torch.no_grad():
        logits = ours(clip)
    assert logits.shape == (shape[0], 400)
    assert expected.abs().max() > 1e-3  # the comparison is not between two near-zero outputs
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-5)


def test_wrong_mapping_would_be_visible() -> None:
    """Swapping two BN running statistics changes the output: the equivalence test has teeth."""
    torch.set_num_threads(1)
    reference = pvshim.make_resolution_agnostic("x3d_m", pvshim.randomize_norms(pvshim.build_reference("x3d_m")))
    converted = get_converter("pytorchvideo", "x3d_m").fn(reference.state_dict())
    converted["stages.1.0.bn_a.running_var"], converted["stages.1.0.bn_b.running_var"] = (
        converted["stages.1.0.bn_b.running_var"],
        converted["stages.1.0.bn_a.running_var"],
    )
    ours = MODELS.build("x3d_m").eval()
    load_checkpoint_into(ours, converted)
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert (ours(clip) - pvshim.reference_forward("x3d_m", reference, clip)).abs().max() > 1e-4


def test_converter_rejects_state_dict_of_another_architecture() -> None:
    reference = pvshim.build_reference("x3d_xs")
    with pytest.raises(CheckpointError, match=r"not a PyTorchVideo slowfast_r50 state dict.*blocks\."):
        get_converter("pytorchvideo", "slowfast_r50").fn(reference.state_dict())


def _save_source(path, name: str, **kwargs: object) -> torch.nn.Module:
    reference = pvshim.randomize_norms(pvshim.build_reference(name, **kwargs))
    torch.save({"model_state": reference.state_dict(), "cur_epoch": 10}, path)  # PySlowFast-style wrapper
    return reference


def test_convert_cli_writes_loadable_checkpoint(tmp_path, capsys) -> None:
    torch.set_num_threads(1)
    src, out = tmp_path / "X3D_XS.pyth", tmp_path / "x3d_xs.pt"
    reference = pvshim.make_resolution_agnostic("x3d_xs", _save_source(src, "x3d_xs", model_num_class=5))
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\nc\nd\ne\n")
    rc = main(
        ["convert", "--from", "pytorchvideo", str(src), "--model", "x3d_xs", "--out", str(out)]
        + ["--classes", str(classes)]
    )
    assert rc == 0
    assert str(out) in capsys.readouterr().out

    raw = torch.load(out, weights_only=True)  # safe to load
    assert raw["model"] == "x3d_xs" and raw["model_kwargs"]["num_classes"] == 5
    assert raw["classes"] == ["a", "b", "c", "d", "e"]
    assert raw["input_spec"]["num_frames"] == 4 and raw["input_spec"]["crop_size"] == 182
    assert raw["source"]["format"] == "pytorchvideo" and len(raw["source"]["sha256"]) == 64
    assert {"vidstruct_version", "torch_version"} <= raw.keys()

    model, meta = load_model_checkpoint(out, "x3d_xs")
    assert meta["load_report"].exact and model.num_classes == 5
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            model(clip), pvshim.reference_forward("x3d_xs", reference, clip), atol=1e-4, rtol=1e-5
        )


def test_convert_library_and_json_output(tmp_path, capsys) -> None:
    src, out = tmp_path / "x3d_m.pyth", tmp_path / "x3d_m.pt"
    _save_source(src, "x3d_m")
    rc = main(["convert", "--from", "pytorchvideo", str(src), "--model", "x3d_m", "--out", str(out), "--json"])
    assert rc == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["out"] == str(out) and result["tensors"] == len(read_model_checkpoint(out)["state_dict"])
    # the converted checkpoint does not fit another model: named in the error with offending keys
    with pytest.raises(CheckpointError, match=r"holds model 'x3d_m', which does not fit 'csn_r101'.*missing keys"):
        load_model_checkpoint(out, "csn_r101")
    with pytest.raises(RegistryError, match="x3d_m"):
        convert_checkpoint("pytorchvideo", src, "x3d_mm", tmp_path / "o.pt")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--from", "pytorchvid", "SRC", "--model", "x3d_m"],
            "unknown checkpoint source 'pytorchvid' (did you mean 'pytorchvideo'?)",
        ),
        (["--from", "pytorchvideo", "SRC", "--model", "x3d_mm"], "unknown model 'x3d_mm' (did you mean 'x3d_m'"),
        (["--from", "pytorchvideo", "SRC", "--model", "slow_r50"], "not a PyTorchVideo slow_r50 state dict"),
        (["--from", "pytorchvideo", "MISSING", "--model", "x3d_m"], "MISSING: no such file or directory"),
        (["--from", "pytorchvideo", "GARBAGE", "--model", "x3d_m"], "GARBAGE: cannot read checkpoint safely"),
    ],
)
def test_convert_cli_errors_are_one_line(tmp_path, capsys, argv: list[str], message: str) -> None:
    src = tmp_path / "x3d_xs.pyth"
    _save_source(src, "x3d_xs")
    garbage = tmp_path / "garbage.pyth"
    garbage.write_bytes(b"not a checkpoint")
    paths = {"SRC": str(src), "MISSING": str(tmp_path / "missing.pyth"), "GARBAGE": str(garbage)}
    argv = [paths.get(a, a) for a in argv]
    message = message.replace("MISSING", paths["MISSING"]).replace("GARBAGE", paths["GARBAGE"])
    rc = main(["convert", *argv, "--out", str(tmp_path / "out.pt")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out.pt").exists()


def test_convert_cli_wrong_model_in_subprocess_has_no_traceback(tmp_path) -> None:
    src = tmp_path / "x3d_xs.pyth"
    _save_source(src, "x3d_xs")
    cmd = [sys.executable, "-m", "vidstruct", "convert", "--from", "pytorchvideo", str(src)]
    proc = subprocess.run(
        [*cmd, "--model", "csn_r101", "--out", str(tmp_path / "o.pt")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "csn_r101" in lines[0]
