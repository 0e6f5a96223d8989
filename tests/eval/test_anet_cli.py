"""``vidstruct eval anet-proposal|anet-detection``: in-process runs and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidstruct.cli.main import main


@pytest.fixture()
def files(tmp_path):
    gt = {
        "version": "VERSION 1.3",
        "taxonomy": [],
        "database": {
            "v1": {
                "subset": "validation",
                "duration": 40.0,
                "annotations": [{"segment": [0, 10], "label": "A"}, {"segment": [20, 30], "label": "B"}],
            },
            "v2": {"subset": "validation", "duration": 20.0, "annotations": [{"segment": [5, 15], "label": "A"}]},
            "v3": {"subset": "training", "duration": 20.0, "annotations": [{"segment": [0, 5], "label": "A"}]},
        },
    }
    det = {
        "version": "VERSION 1.3",
        "external_data": {},
        "results": {
            "v1": [
                {"segment": [0, 10], "score": 0.9, "label": "A"},
                {"segment": [0, 9], "score": 0.85, "label": "A"},
                {"segment": [20, 25], "score": 0.5, "label": "B"},
            ],
            "v2": [{"segment": [5, 10], "score": 0.8, "label": "A"}, {"segment": [0, 1], "score": 0.4, "label": "B"}],
            "v9": [{"segment": [0, 5], "score": 0.6, "label": "A"}],
        },
    }
    paths = {}
    for name, doc in (("gt", gt), ("det", det)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    return paths


def test_detection_json(files, capsys):
    # numbers of test_anet_detection.test_golden_two_videos_two_classes at tIoU .5 and .75: 11/12 and 1/4
    rc = main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--tiou", "0.5,0.75", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tiou"] == [0.5, 0.75]
    assert out["mAP"] == pytest.approx([11 / 12, 0.25], abs=1e-12)
    assert out["average_mAP"] == pytest.approx((11 / 12 + 0.25) / 2, abs=1e-12)
    assert out["per_class_AP"] == {"A": pytest.approx([5 / 6, 0.5]), "B": pytest.approx([1.0, 0.0])}


def test_out_writes_the_printed_metrics(files, tmp_path, capsys):
    out = tmp_path / "metrics" / "det.json"
    rc = main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--tiou", "0.5", "--out", str(out)])
    assert rc == 0 and "average mAP: 91.67 %" in capsys.readouterr().out  # the table is still printed
    written = json.loads(out.read_text())
    assert written["mAP"] == pytest.approx([11 / 12]) and written["tie_order"] == "stable"
    assert main(["eval", "anet-proposal", str(files["gt"]), str(files["det"]), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text())
    assert sorted(p.name for p in out.parent.iterdir()) == ["det.json"]  # no temporary file left


def test_detection_protocols_and_table(files, capsys):
    assert main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--protocol", "thumos", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tiou"] == [0.3, 0.4, 0.5, 0.6, 0.7]
    assert main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--protocol", "epic", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tiou"] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert main(["eval", "anet-detection", str(files["gt"]), str(files["det"])]) == 0
    text = capsys.readouterr().out
    assert "average mAP: 31.67 %" in text  # 19/60
    assert "0.5    91.67" in text


def test_proposal_json_uses_same_files(files, capsys):
    # labels are ignored: 6 proposals, 2 GT videos, A = 3 -> ratio 1, every proposal kept
    rc = main(["eval", "anet-proposal", str(files["gt"]), str(files["det"]), "--max-avg-nr-proposals", "3", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"AUC", "AR@3", "recall", "tiou", "average_recall", "average_nr_proposals"}
    assert "AR@1" not in out  # AN = 1 is not on the grid (j+1) * 3/100
    assert out["num_proposals"] == 6 and out["num_ground_truth"] == 3 and len(out["recall"]) == 10
    # at AN = 3 every GT is found at tIoU .5 (v1 A by [0,10], v1 B by [20,25] (.5), v2 A by [5,10] (.5))
    assert out["recall"][0] == pytest.approx(1.0)


def test_blocked_option(files, tmp_path, capsys):
    blocked = tmp_path / "blocked.txt"
    blocked.write_text("v2\n")
    rc = main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--blocked", str(blocked), "--json"])
    assert rc == 0
    # without v2: class A = [TP .9, FP .85 dup, FP .6 v9], npos 1 -> AP 1 at every threshold
    assert json.loads(capsys.readouterr().out)["per_class_AP"]["A"] == pytest.approx([1.0] * 10)


def test_errors_are_one_line(files, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": {"v1": [{"segment": [0, 10], "score": "high", "label": "A"}]}}))
    assert main(["eval", "anet-detection", str(files["gt"]), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "bad.json, results['v1'][0], field 'score'" in err
    assert main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--subset", "testing"]) == 2
    assert "no videos of subset 'testing'" in capsys.readouterr().err
    assert main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--tiou", "0.5,x"]) == 2
    assert "--tiou: expected comma-separated numbers" in capsys.readouterr().err
    assert main(["eval", "anet-detection", str(files["gt"]), str(files["det"]), "--tiou", "1.5"]) == 2
    assert "in (0, 1]" in capsys.readouterr().err


def test_unknown_label_subprocess_has_no_traceback(files, tmp_path):
    bad = tmp_path / "unknown.json"
    bad.write_text(json.dumps({"results": {"v2": [{"segment": [0, 10], "score": 0.5, "label": "Zebra"}]}}))
    proc = subprocess.run(
        [sys.executable, "-m", "vidstruct", "eval", "anet-detection", str(files["gt"]), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}, results['v2'][0], field 'label': 'Zebra' is not a class of the ground truth (2 classes)"
    ]
