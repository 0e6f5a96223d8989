"""``vidstruct eval ava``: JSON keys and numbers, --out, text output, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vidstruct.cli.main import main

LABEL_MAP = 'label {\n  name: "stand"\n  label_id: 1\n}\nlabel {\n  name: "sit"\n  label_id: 2\n}\n'


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    texts = {
        "gt": "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0903,0.1,0.1,0.5,0.5,1,0\n",
        # stand: TP (0.9), FP (0.8, a miss on 0903), TP (0.7): AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
        "det": "v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0903,0.6,0.6,0.9,0.9,1,0.8\nv,0903,0.1,0.1,0.5,0.5,1,0.7\n",
        "map": LABEL_MAP,
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    return paths


def test_json_keys_and_numbers(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    rc = main(["eval", "ava", str(files["gt"]), str(files["det"]), "--labelmap", str(files["map"]), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert {"mAP", "per_class_AP", "classes_without_ground_truth"} <= out.keys()
    assert out["mAP"] == pytest.approx(5 / 6, abs=1e-12)
    assert out["per_class_AP"] == {"stand": pytest.approx(5 / 6, abs=1e-12)}
    assert out["classes_without_ground_truth"] == ["sit"]
    assert out["num_detections"] == 3 and out["max_detections_per_keyframe"] == 50
    assert out["tie_order"] == "official"


def test_tie_order_option(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    # 0903's miss ties with 0902's hit at 0.9; 0902 is listed first, so its hit ranks first under "stable":
    # TP, FP, TP over 2 ground truth -> AP 5/6 (the fixture's numbers)
    files["det"].write_text(
        "v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0903,0.6,0.6,0.9,0.9,1,0.9\nv,0903,0.1,0.1,0.5,0.5,1,0.7\n"
    )
    args = ["eval", "ava", str(files["gt"]), str(files["det"]), "--labelmap", str(files["map"]), "--json"]
    assert main([*args, "--tie-order", "stable"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tie_order"] == "stable" and out["mAP"] == pytest.approx(5 / 6, abs=1e-12)


def test_out_file_and_text(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out_file = tmp_path / "metrics.json"
    args = ["eval", "ava", str(files["gt"]), str(files["det"]), "--labelmap", str(files["map"])]
    rc = main([*args, "--out", str(out_file)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "frame-mAP@0.5: 83.33 %" in text and "stand" in text
    assert json.loads(out_file.read_text())["mAP"] == pytest.approx(5 / 6, abs=1e-12)


def test_malformed_file_is_one_line_exit_2(files: dict[str, Path]) -> None:
    files["gt"].write_text("v,0902,0.1,0.1,0.5,0.5,1,0\nv,0903,0.5,0.1,0.5,0.5,1,0\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidstruct",
            "eval",
            "ava",
            str(files["gt"]),
            str(files["det"]),
            "--labelmap",
            str(files["map"]),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert f"{files['gt']}, line 2, field 'x2'" in lines[0]
