"""Flat CSV, ActivityNet and AVA exports, read back by csv, vidstruct's ActivityNet evaluator and its AVA reader."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidstruct.data.formats.ava import read_ava_label_map, read_ava_proposals
from vidstruct.data.records import BoxAnnotation
from vidstruct.eval.temporal import evaluate_detection, load_ground_truth, load_submission
from vidstruct.structure import StructureError, read_structure
from vidstruct.structure.exports import export_structure

SaveDoc = Callable[[dict[str, Any]], Path]


# ------------------------------------------------------------------------------------------------------ CSV


def test_csv_has_one_row_per_item_with_documented_columns(structure_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "clip01.csv"
    assert export_structure(read_structure(structure_dir), "csv", out) == [out]
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "kind", "index", "start_s", "end_s", "time_s", "label", "score", "source", "model", "shot",
        "track_id", "x1", "y1", "x2", "y2", "top", "thumbnail", "embedding_row",
    ]  # fmt: skip
    assert [r["kind"] for r in rows] == ["shot"] * 3 + ["segment"] * 4 + ["window"] * 4 + ["actor"] * 3
    empty = dict.fromkeys(rows[0], "")
    assert rows[1] == empty | {
        "kind": "shot", "index": "1", "start_s": "4.0", "end_s": "6.5", "score": "0.875", "model": "shots",
        "shot": "1", "thumbnail": "thumbs/shot-0001.jpg",
    }  # fmt: skip
    assert rows[6] == empty | {
        "kind": "segment", "index": "3", "start_s": "3.5", "end_s": "5.0", "label": "walk", "score": "0.5",
        "source": "localizer", "model": "localizer",
    }  # fmt: skip
    assert rows[10] == empty | {
        "kind": "window", "index": "3", "start_s": "6.0", "end_s": "8.0", "label": "jump", "score": "0.9",
        "model": "recognizer", "embedding_row": "3",
        "top": '[{"label": "jump", "prob": 0.9}, {"label": "run", "prob": 0.05}]',
    }  # fmt: skip
    assert rows[11] == empty | {
        "kind": "actor", "index": "0", "time_s": "1.0", "label": "stand", "score": "0.95", "model": "detector",
        "track_id": "0", "x1": "0.1", "y1": "0.2", "x2": "0.4", "y2": "0.9",
        "top": '[{"label": "stand", "prob": 0.8}, {"label": "talk to", "prob": 0.6}]',
    }  # fmt: skip
    assert rows[13]["label"] == "" and rows[13]["top"] == "[]" and rows[13]["x1"] == "0.12"


# ---------------------------------------------------------------------------------------------- ActivityNet


def test_activitynet_submission_is_read_by_the_evaluator_and_scores_map_1(structure_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission.json"
    export_structure(read_structure(structure_dir), "activitynet", out)
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert raw["version"] == "VERSION 1.3"
    assert raw["external_data"]["used"] is False and "localizer=bmn" in raw["external_data"]["details"]
    assert raw["results"]["clip01"][0] == {"segment": [1.5, 3.25], "score": 0.9, "label": "walk"}

    sub = load_submission(out, require_label=True)
    assert sub.video_ids == ("clip01",)
    assert sub.segments.tolist() == [[1.5, 3.25], [4.0, 6.0], [6.5, 9.5], [3.5, 5.0]]
    assert sub.scores.tolist() == [0.9, 0.75, 0.625, 0.5]
    assert [sub.label_names[i] for i in sub.labels] == ["walk", "run", "jump", "walk"]

    truth = {
        "database": {
            "clip01": {
                "subset": "validation",
                "duration": 10.0,
                "annotations": [
                    {"segment": [1.5, 3.25], "label": "walk"},
                    {"segment": [4.0, 6.0], "label": "run"},
                    {"segment": [6.5, 9.5], "label": "jump"},
                    {"segment": [3.5, 5.0], "label": "walk"},
                ],
            }
        }
    }
    result = evaluate_detection(load_ground_truth(truth), sub)
    assert np.array_equal(result.mAP, np.ones_like(result.mAP))
    assert result.num_ground_truth == 4 and result.num_predictions == 4


def test_activitynet_without_segments_has_an_empty_list(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["segments"] = []
    doc["thumbnails"] = [t for t in doc["thumbnails"] if t["kind"] == "shot"]
    out = tmp_path / "s.json"
    export_structure(read_structure(save_doc(doc)), "activitynet", out)
    assert json.loads(out.read_text(encoding="utf-8"))["results"] == {"clip01": []}
    assert load_submission(out, require_label=True).scores.size == 0


# ------------------------------------------------------------------------------------------------------ AVA


def test_ava_rows_and_label_map_are_read_by_vidstruct(structure_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ava" / "clip01.csv"
    written = export_structure(read_structure(structure_dir), "ava", out)
    assert written == [out, tmp_path / "ava" / "clip01.label_map.pbtxt"]
    assert out.read_text(encoding="utf-8").splitlines() == [
        "clip01,0001,0.1,0.2,0.4,0.9,1,0.8",
        "clip01,0001,0.1,0.2,0.4,0.9,3,0.6",
        "clip01,2.5,0.5,0.1,0.9,0.8,2,0.7",
    ]  # the action-less actor at 2.0 s has no row
    labels = read_ava_label_map(str(written[1]))
    assert {i: label.name for i, label in labels.items()} == {1: "stand", 2: "sit", 3: "talk to"}
    assert read_ava_proposals(str(out)) == [
        BoxAnnotation("clip01", 1.0, (0.1, 0.2, 0.4, 0.9), 1, -1, 0.8),
        BoxAnnotation("clip01", 1.0, (0.1, 0.2, 0.4, 0.9), 3, -1, 0.6),
        BoxAnnotation("clip01", 2.5, (0.5, 0.1, 0.9, 0.8), 2, -1, 0.7),
    ]
    assert {row.action_id for row in read_ava_proposals(str(out))} <= set(labels)


def test_ava_label_map_quotes_names(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["models"]["detector"]["classes"] = ['say "hi"', "sit", "stand", "talk to"]
    out = tmp_path / "a.csv"
    label_map = export_structure(read_structure(save_doc(doc)), "ava", out)[1]
    assert read_ava_label_map(str(label_map))[1].name == 'say "hi"'
    assert out.read_text(encoding="utf-8").splitlines()[0] == "clip01,0001,0.1,0.2,0.4,0.9,3,0.8"  # stand is id 3 now


def test_ava_needs_the_actor_models_classes(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["models"]["detector"]["classes"] = None
    with pytest.raises(
        StructureError, match=r"\$\.models\.detector\.classes: AVA export needs the model's action classes"
    ):
        export_structure(read_structure(save_doc(doc)), "ava", tmp_path / "a.csv")
    assert not (tmp_path / "a.csv").exists()


def test_ava_needs_an_actor_model(doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path) -> None:
    doc["actors"] = []
    del doc["models"]["detector"]
    with pytest.raises(StructureError, match=r"\$\.models: AVA export needs an actor model"):
        export_structure(read_structure(save_doc(doc)), "ava", tmp_path / "a.csv")


def test_ava_without_actors_uses_the_action_detectors_label_map(
    doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path
) -> None:
    # analyze records the person-box source beside the action detector; with no actor found the export still has
    # one label map to write: the action detector's (the person detector's single class is not an action)
    doc["actors"] = []
    doc["models"]["persons"] = {**doc["models"]["detector"], "name": "fcos_tiny", "task": "person-detection"}
    doc["models"]["persons"]["classes"] = ["person"]
    out = tmp_path / "a.csv"
    csv, label_map = export_structure(read_structure(save_doc(doc)), "ava", out)
    assert csv.read_text(encoding="utf-8") == ""
    assert [label.name for label in read_ava_label_map(str(label_map)).values()] == ["stand", "sit", "talk to"]
