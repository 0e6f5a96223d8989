"""How commands end: a closed or full stdout, unusable output paths, user errors vs internal errors.

Exit codes (``vidstruct.cli.exits``): 2 user error (one line ``error: ...``), 3 internal error (one line with a
``--debug`` hint), 141 stdout closed by its reader (quiet). Failures are produced for real where the machine allows
it: a pipe whose reader is gone, ``/dev/full`` as stdout, a regular file where a folder is expected, ``/sys`` (not
writable, even for root). A full disk or a read-only file system for a *file* output cannot be produced here
without mounting one, so those errno values are raised by a stand-in command instead.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vidstruct.cli.commands.models as models_command
import vidstruct.cli.commands.synth as synth_command
from vidstruct.cli.main import main
from vidstruct.errors import ShapeError
from vidstruct.io import write_video
from vidstruct.models import MODELS
from vidstruct.models.checkpoint import save_model_checkpoint

VIDSTRUCT = [sys.executable, "-m", "vidstruct"]
HINT = "this is a bug in vidstruct, rerun with --debug for the traceback"


def _eval_files(folder: Path, num_classes: int = 2) -> tuple[Path, Path]:
    """Ground truth and detections of one video: class k has the segment [k, k + 1], predicted exactly."""
    classes = [f"class_{k:05d}" for k in range(num_classes)]
    gt = {"database": {"v": {"subset": "validation", "annotations": []}}}
    pred: dict = {"results": {"v": []}}
    for k, name in enumerate(classes):
        gt["database"]["v"]["annotations"].append({"segment": [k, k + 1], "label": name})
        pred["results"]["v"].append({"segment": [k, k + 1], "score": 0.5, "label": name})
    gt_path, pred_path = folder / "gt.json", folder / "pred.json"
    gt_path.write_text(json.dumps(gt))
    pred_path.write_text(json.dumps(pred))
    return gt_path, pred_path


def _one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.rstrip("\n")


# ------------------------------------------------------------------------------------------------- stdout


def test_stdout_closed_before_writing_ends_quietly_with_141(tmp_path: Path) -> None:
    gt, pred = _eval_files(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that is already gone: the first write fails with EPIPE
    try:
        for command in (["models", "list"], ["eval", "anet-detection", str(gt), str(pred), "--json"]):
            proc = subprocess.run(
                [*VIDSTRUCT, *command], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120
            )
            assert (proc.returncode, proc.stderr) == (141, ""), command
    finally:
        os.close(write_end)


def test_head_reading_part_of_a_large_json(tmp_path: Path) -> None:
    # 3000 classes: ~0.6 MB of JSON, far more than a pipe holds, so writing goes on after head has left
    gt, pred = _eval_files(tmp_path, num_classes=3000)
    command = shlex.join([*VIDSTRUCT, "eval", "anet-detection", str(gt), str(pred), "--json"])
    proc = subprocess.run(
        ["bash", "-c", f'{command} | head -c 10; status="${{PIPESTATUS[0]}}"; echo; echo "$status"'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.stderr == ""
    assert proc.stdout.startswith('{\n  "mAP":')  # the 10 bytes head asked for
    assert proc.stdout.splitlines()[-1] == "141"


def test_full_stdout_is_one_line(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [*VIDSTRUCT, "models", "list"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert proc.returncode == 2
    assert _one_line(proc.stderr) == "error: <stdout>: No space left on device"


# ------------------------------------------------------------------------------------------- output paths


def test_eval_out_below_a_file_and_onto_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = _eval_files(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    rc = main(["eval", "anet-detection", str(gt), str(pred), "--out", str(a_file / "m.json")])
    assert rc == 2
    err = _one_line(capsys.readouterr().err)
    assert err == f"error: {a_file}: File exists (it exists and is not a folder; a folder was expected here)"
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert main(["eval", "anet-detection", str(gt), str(pred), "--out", str(folder)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err == f"error: {folder}: Is a directory (a folder; a file was expected here)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_folder", "gt.json", "pred.json"]  # no temp


def test_eval_out_where_nobody_may_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # /sys refuses new files even to root (EACCES; EROFS where it is mounted read-only): the path reported is the
    # one asked for, not the atomic writer's temporary name
    gt, pred = _eval_files(tmp_path)
    assert main(["eval", "anet-detection", str(gt), str(pred), "--out", "/sys/vidstruct_metrics.json"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err in {
        "error: /sys/vidstruct_metrics.json: Permission denied",
        "error: /sys/vidstruct_metrics.json: Read-only file system",
    }


def test_frames_synth_export_out_below_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    rng = np.random.default_rng(0)
    video = write_video(tmp_path / "v.mp4", rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8), 10.0)
    torch.manual_seed(0)
    model = MODELS.build("r2plus1d_tiny", num_classes=2, widths=[4, 4, 4, 4])
    ckpt = save_model_checkpoint(
        tmp_path / "tiny.pt", model.eval(), model_name="r2plus1d_tiny", model_kwargs={"widths": [4, 4, 4, 4]},
        classes=["a", "b"],
    )  # fmt: skip
    commands = {
        "frames": ["frames", str(video), "--indices", "0", "--out", str(a_file)],
        "synth": ["synth", "--task", "classify", "--num-videos", "1", "--size", "32", "--duration", "0.5",
                  "--out", str(a_file / "synth")],
        "export": ["export", str(ckpt), "--format", "torchscript", "--no-check", "--out", str(a_file / "m.pt")],
    }  # fmt: skip
    for name, command in commands.items():
        assert main(["--quiet", *command]) == 2, name
        err = _one_line(capsys.readouterr().err)
        assert err.startswith(f"error: {a_file}"), (name, err)
        assert "a folder was expected here" in err or "is a file, not a folder" in err, (name, err)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EROFS, "Read-only file system"),
        (errno.EDQUOT, "Disk quota exceeded"),
    ],
)
def test_full_or_read_only_output_is_one_line(
    code: int, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    def write_fails(args: object) -> int:
        raise OSError(code, os.strerror(code))  # as a failed write() raises it: no path

    def create_fails(args: object) -> int:
        raise OSError(code, os.strerror(code), str(out / ".labels.txt.k3j2x9_a.tmp"))  # an atomic temp file

    for run, where in ((write_fails, out), (create_fails, out / "labels.txt")):
        monkeypatch.setattr(synth_command, "run", run)
        assert main(["synth", "--task", "classify", "--num-videos", "1", "--out", str(out)]) == 2
        assert _one_line(capsys.readouterr().err) == f"error: {where}: {message}"


# ------------------------------------------------------------------------------- user vs internal errors


def test_user_error_is_exit_2_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = _eval_files(tmp_path)
    assert main(["eval", "anet-detection", str(gt), str(pred), "--duration-tolerance", "-1"]) == 2
    assert _one_line(capsys.readouterr().err) == "error: --duration-tolerance must be >= 0 seconds, got -1.0"


def test_internal_error_is_exit_3_with_a_debug_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise ShapeError("r2plus1d: expected a clip [B, C, T, H, W],\n  got [2, 3]")

    monkeypatch.setattr(models_command, "run", broken)
    assert main(["models", "list"]) == 3
    err = _one_line(capsys.readouterr().err)
    assert err == f"internal error: ShapeError: r2plus1d: expected a clip [B, C, T, H, W], got [2, 3]; {HINT}"
    with pytest.raises(ShapeError):
        main(["--debug", "models", "list"])
    # a broken pipe that is not stdout's (a worker's, say) is not mistaken for `| head`
    monkeypatch.setattr(models_command, "run", lambda args: (_ for _ in ()).throw(BrokenPipeError(32, "Broken pipe")))
    assert main(["models", "list"]) == 3
    assert _one_line(capsys.readouterr().err).startswith("internal error: BrokenPipeError: [Errno 32] Broken pipe;")


def test_internal_error_exit_code_of_the_process() -> None:
    script = (
        "import sys; import vidstruct.cli.commands.models as m; from vidstruct.errors import ShapeError\n"
        "def run(args): raise ShapeError('expected [N, 2], got [3]')\n"
        "m.run = run; sys.argv = ['vidstruct', 'models', 'list']\n"
        "from vidstruct.cli.main import entry; entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3
    assert _one_line(proc.stderr) == f"internal error: ShapeError: expected [N, 2], got [3]; {HINT}"
