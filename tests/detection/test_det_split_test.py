"""``vidstruct test`` on a ``task: detection`` config: detect-actions over the split's keyframes, then eval ava."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from detkit import detection_overrides

from vidstruct.cli.main import main
from vidstruct.config import load_task_config
from vidstruct.models.detection import save_detector
from vidstruct.models.persons.builders import build_person_detector
from vidstruct.models.persons.checkpoint import save_person_detector
from vidstruct.recipes.detection import build_detector, detection_data, preprocessing

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detection" / "synth_roi_tiny.yaml"
RELATION = CONFIG.with_name("synth_relation_tiny.yaml")


@pytest.fixture(scope="module")
def run(detect_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A roi-head detector trained 2 steps on the fixture's training videos."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("det_split_run") / "run"
    overrides = detection_overrides(detect_data, "data.val=null")
    assert main(["train", str(CONFIG), *overrides, "--out", str(out), "--max-steps", "2", "-q"]) == 0
    return out


def _gt_rows(path: Path) -> list[list[str]]:
    with path.open() as fh:
        return [row for row in csv.reader(fh) if row]


def _proposals(gt: list[list[str]], out: Path) -> Path:
    """The ground truth's boxes (one per person and keyframe) as a proposals file for detect-actions --proposals."""
    seen: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for row in gt:
        seen.setdefault((row[0], row[1], row[7]), tuple(row[2:6]))
    out.write_text("".join(f"{v},{t},{','.join(box)},,1.0\n" for (v, t, _), box in seen.items()))
    return out


def _assert_rows_close(got: list[str], expected: list[str], tol: float = 1e-5) -> None:
    """The same AVA rows up to ``tol`` in boxes and scores (each side's batches hold other keyframes, so float
    sums may differ in the last printed digit)."""

    def parse(rows: list[str]) -> list[tuple]:
        return sorted((r[0], float(r[1]), int(r[6]), *map(float, r[2:6]), float(r[7])) for r in csv.reader(rows))

    a, b = parse(got), parse(expected)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x[:3] == y[:3] and all(abs(u - v) <= tol for u, v in zip(x[3:], y[3:])), (x, y)


def _test(detect_data: Path, run: Path, out: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, dict]:
    code = main(
        ["test", str(CONFIG), *detection_overrides(detect_data), *extra, "--checkpoint", str(run), "--out", str(out),
         "--device", "cpu", "--json"]
    )  # fmt: skip
    text = capsys.readouterr().out
    return code, (json.loads(text) if code == 0 else {})


def _eval_ava(gt: Path, dets: Path, labelmap: Path, capsys: pytest.CaptureFixture, *extra: str) -> dict:
    assert main(["eval", "ava", str(gt), str(dets), "--labelmap", str(labelmap), *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_split_rows_equal_detect_actions_and_the_map_equals_eval_ava(
    detect_data: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # one clip per batch on both sides: the same float operations, so the same rows to the last digit
    code, report = _test(detect_data, run, tmp_path / "test", capsys, "eval.batch_size=1")
    assert code == 0
    gt = _gt_rows(detect_data / "val.csv")
    videos = list(dict.fromkeys(row[0] for row in gt))
    assert videos == ["synth_00004", "synth_00009"]
    # detect-actions per video on the same boxes (the ground truth's, as proposals) at 0, 1, 2 s: keyframe 0 has no
    # box, so its rows are those of the split's keyframes 1 and 2
    props = _proposals(gt, tmp_path / "props.csv")
    expected: list[str] = []
    for vid in videos:
        video = detect_data / "videos" / f"{vid}.mp4"
        one = tmp_path / f"{vid}.csv"
        args = ["detect-actions", str(video), "--checkpoint", str(run), "--proposals", str(props), "--csv", str(one)]
        assert main([*args, "--batch-size", "1", "--device", "cpu", "--json"]) == 0
        capsys.readouterr()
        expected += one.read_text().splitlines()
    got = (tmp_path / "test" / "detections.csv").read_text().splitlines()
    assert len(got) == len(expected) > 0
    assert sorted(got) == sorted(expected)

    evaluated = _eval_ava(detect_data / "val.csv", tmp_path / "test" / "detections.csv",
                          detect_data / "label_map.pbtxt", capsys)  # fmt: skip
    assert report["metrics"]["mAP"] == evaluated["mAP"]
    assert report["per_class_AP"] == evaluated["per_class_AP"] and report["evaluation"] == evaluated
    assert 0.0 <= evaluated["mAP"] <= 1.0 and len(evaluated["per_class_AP"]) > 0

    on_disk = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert on_disk == report
    keyframes = {(row[0], float(row[1])) for row in gt}
    persons = {(row[0], float(row[1]), row[7]) for row in gt}
    assert report["split"] == "val" and report["task"] == "detection" and report["boxes"] == "ground truth"
    assert (report["num_videos"], report["evaluated"], report["skipped"]) == (2, 2, [])
    assert report["num_keyframes"] == len(keyframes) and report["num_boxes"] == len(persons)
    num_classes = sum(1 for line in (detect_data / "label_map.pbtxt").read_text().splitlines() if "name" in line)
    assert report["num_detections"] == len(persons) * num_classes == len(got)
    detector = run / "detector.pt"
    assert report["model"]["name"] == "run" and report["model"]["checkpoint"] == str(detector)
    assert report["model"]["sha256"] == hashlib.sha256(detector.read_bytes()).hexdigest()
    assert len(report["classes"]) == num_classes and set(report["per_class_AP"]) <= set(report["classes"])


def test_a_corrupt_and_a_missing_video_are_reported_and_the_rest_evaluated(
    detect_data: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for vid in ("synth_00004", "synth_00002"):
        shutil.copy(detect_data / "videos" / f"{vid}.mp4", videos)
    (videos / "synth_00009.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)  # not decodable
    train = _gt_rows(detect_data / "train.csv")
    late = [r for r in train if r[0] == "synth_00002"]
    late = late + [["synth_00002", "10", *late[0][2:]]]  # a keyframe at 10 s of a 3 s video, after two good ones
    gt = _gt_rows(detect_data / "val.csv") + late + [r for r in train if r[0] == "synth_00001"]
    split = tmp_path / "split.csv"
    split.write_text("".join(",".join(r) + "\n" for r in gt))  # synth_00001: no file in the videos folder

    # one clip per batch: synth_00002's good keyframes are scored before its bad one fails, and still left out
    extra = (f"data.videos={videos}", f"data.val={split}", "eval.batch_size=1")
    code, report = _test(detect_data, run, tmp_path / "test", capsys, *extra)
    assert code == 0
    skipped = {s["video_id"]: s for s in report["skipped"]}
    assert set(skipped) == {"synth_00009", "synth_00002", "synth_00001"}
    assert skipped["synth_00009"]["path"] == str(videos / "synth_00009.mp4") and skipped["synth_00009"]["error"]
    assert skipped["synth_00002"]["path"] == str(videos / "synth_00002.mp4")
    assert "keyframe 10s" in skipped["synth_00002"]["error"]
    assert skipped["synth_00001"]["path"] is None and "synth_00001" in skipped["synth_00001"]["error"]
    assert (report["num_videos"], report["evaluated"]) == (4, 1)
    rows = (tmp_path / "test" / "detections.csv").read_text().splitlines()
    assert rows and {r.split(",")[0] for r in rows} == {"synth_00004"}
    # the evaluation = eval ava against the ground truth of the evaluated video alone (computed here, separately)
    alone = tmp_path / "alone.csv"
    alone.write_text("".join(",".join(r) + "\n" for r in gt if r[0] == "synth_00004"))
    evaluated = _eval_ava(alone, tmp_path / "test" / "detections.csv", detect_data / "label_map.pbtxt", capsys)
    assert report["metrics"]["mAP"] == evaluated["mAP"] and report["per_class_AP"] == evaluated["per_class_AP"]
    assert report["num_keyframes"] == len({(r[0], r[1]) for r in gt if r[0] == "synth_00004"})

    # the text output: one line
    assert main(["test", str(CONFIG), *detection_overrides(detect_data), f"data.videos={videos}",
                 f"data.val={split}", "--checkpoint", str(run), "--device", "cpu"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert len(text.splitlines()) == 1 and text.startswith("val: 1 of 4 videos, 2 keyframes")
    assert f"frame-mAP@0.5 {evaluated['mAP']:.4f}" in text and "skipped 3 video(s)" in text


def test_detected_person_boxes_are_the_person_detectors(
    detect_data: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.manual_seed(1)
    kwargs = {"width": 8, "out_channels": 32, "image_size": 64}
    persons = save_person_detector(
        tmp_path / "persons" / "person_detector.pt", build_person_detector("fcos_tiny", **kwargs).eval(),
        model_name="fcos_tiny", model_kwargs=kwargs,
    )  # fmt: skip
    extra = ("--boxes", "detected", "--person-detector", str(persons), "--person-min-score", "0.05")
    code, report = _test(detect_data, run, tmp_path / "test", capsys, *extra)
    assert code == 0 and report["boxes"] == str(persons) and report["num_boxes"] > 0
    # detect-actions with that detector at 0, 1, 2 s; the split's keyframes are 1 and 2 s (the batches differ:
    # keyframe 0 has boxes here, and the test's batches span both videos)
    expected: list[str] = []
    for vid in ("synth_00004", "synth_00009"):
        one = tmp_path / f"{vid}.csv"
        args = ["detect-actions", str(detect_data / "videos" / f"{vid}.mp4"), "--checkpoint", str(run), "--detector",
                str(persons), "--person-min-score", "0.05", "--csv", str(one), "--device", "cpu", "--json"]  # fmt: skip
        assert main(args) == 0
        capsys.readouterr()
        expected += [r for r in one.read_text().splitlines() if r.split(",")[1] != "0"]
    got = (tmp_path / "test" / "detections.csv").read_text().splitlines()
    _assert_rows_close(got, expected)
    assert report["num_boxes"] * len(report["classes"]) == len(got)
    evaluated = _eval_ava(detect_data / "val.csv", tmp_path / "test" / "detections.csv",
                          detect_data / "label_map.pbtxt", capsys)  # fmt: skip
    assert report["evaluation"] == evaluated


def test_user_mistakes_are_one_line_errors(
    detect_data: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    kwargs = {"width": 8, "out_channels": 32, "image_size": 64}
    persons = save_person_detector(
        tmp_path / "persons" / "person_detector.pt", build_person_detector("fcos_tiny", **kwargs).eval(),
        model_name="fcos_tiny", model_kwargs=kwargs,
    )  # fmt: skip
    more = tmp_path / "more.pbtxt"  # a class the detector has no output for
    more.write_text((detect_data / "label_map.pbtxt").read_text() + 'item {\n  name: "juggle"\n  id: 99\n}\n')
    cases = [
        (["--checkpoint", str(persons)], "not an action detector checkpoint"),  # a checkpoint of another task
        (["--checkpoint", str(run), "--split", "test"], "--split test"),
        (["--checkpoint", str(run), "--boxes", "detected"], "--person-detector"),
        (["--checkpoint", str(run), "--person-min-score", "0.3"], "only apply with --boxes detected"),
        (["--checkpoint", str(run), f"data.label_map={more}"], "no output for action id(s) [99]"),
    ]
    for args, message in cases:
        code = main(["test", str(CONFIG), *detection_overrides(detect_data), *args, "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o" / "metrics.json").exists()
    recognition = CONFIG.parents[1] / "recognition" / "synth_r2plus1d_tiny.yaml"
    assert main(["test", str(recognition), "--checkpoint", str(run), "--boxes", "gt"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "only for a task: detection config" in err, err


def test_a_relation_head_gets_the_configs_object_boxes(
    detect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.set_num_threads(1)
    task = load_task_config(RELATION, detection_overrides(detect_data))
    data = detection_data(task.cfg)
    torch.manual_seed(0)  # random weights
    model, builder = build_detector(task.cfg, len(data.classes), task.composed)
    run = tmp_path / "relation"
    save_detector(
        run / "detector.pt", model.eval(), name="relation", builder=builder, classes=data.classes,
        class_ids=data.class_ids, preprocessing=preprocessing(task.cfg),
    )  # fmt: skip
    objects = tmp_path / "objects.csv"  # two objects at synth_00004's keyframe 1 s, none elsewhere
    objects.write_text("synth_00004,1,0.05,0.05,0.3,0.3,,0.9\nsynth_00004,1,0.6,0.1,0.9,0.4,,0.8\n")
    props = _proposals(_gt_rows(detect_data / "val.csv"), tmp_path / "props.csv")

    def rows(extra: list[str], video: str) -> list[str]:
        one = tmp_path / "one.csv"
        args = ["detect-actions", str(detect_data / "videos" / f"{video}.mp4"), "--checkpoint", str(run),
                "--proposals", str(props), *extra, "--csv", str(one), "--device", "cpu", "--json"]  # fmt: skip
        assert main(args) == 0
        capsys.readouterr()
        return one.read_text().splitlines()

    code = main(
        ["test", str(RELATION), *detection_overrides(detect_data), f"data.objects={objects}", "--checkpoint",
         str(run), "--out", str(tmp_path / "test"), "--json"]
    )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["head"] == "relation"
    got = (tmp_path / "test" / "detections.csv").read_text().splitlines()
    with_objects = rows(["--objects", str(objects)], "synth_00004") + rows(["--objects", str(objects)], "synth_00009")
    _assert_rows_close(got, with_objects)  # batches of 8 clips here span both videos: equal up to float rounding
    without = rows([], "synth_00004")

    def at(rows_: list[str], keyframe: int) -> list[str]:
        return [r for r in rows_ if r.startswith(f"synth_00004,{keyframe},")]

    # the objects changed every score at 1 s (by more than rounding: 1e-5 is 10 of the 6 printed decimals) ...
    scores = {tuple(r.split(",")[:7]): float(r.split(",")[7]) for r in at(without, 1)}
    changed = [abs(float(r.split(",")[7]) - scores[tuple(r.split(",")[:7])]) for r in at(with_objects, 1)]
    assert changed and len(changed) == len(scores) and min(changed) > 1e-5, changed
    # ... and none at 2 s, where there are no objects (the batches differ, so equal up to float rounding)
    _assert_rows_close(at(with_objects, 2), at(without, 2))
