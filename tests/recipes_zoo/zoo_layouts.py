"""Synthetic copies of the public benchmarks, laid out in each dataset's real file format.

Each ``write_*`` function writes, under ``root`` (the directory a recipe is run from: its paths are
relative, ``data/<dataset>/...``), the annotation files of that dataset in their published format and a
few short real videos in the dataset's container (Kinetics / ActivityNet / HACS: H.264 mp4, SSv2: VP9
webm, UCF101 / HMDB51: MPEG-4 Part 2 avi), rendered by :mod:`vidstruct.data.synth`. The localization
datasets get the snippet-feature directory the localization task reads (``vidstruct.features/1``, as
``vidstruct extract-features`` writes it). Each returns the paths a test breaks on purpose.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidstruct.data.features import new_manifest, save_array_atomic, write_manifest
from vidstruct.data.synth import render_clip
from vidstruct.io.writer import write_video

FPS = 12.0
SIZE = 48
DURATION_S = 1.5
ACTIONS = ("rotate_cw", "move_right", "grow", "move_left")
CONTAINERS = {".mp4": "libx264", ".webm": "libvpx-vp9", ".avi": "mpeg4"}


@dataclass(frozen=True)
class ClipPool:
    """Short clips, one per action, each encoded once in every container: ``files[suffix][k]``."""

    files: dict[str, list[Path]]

    def copy(self, k: int, suffix: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.files[suffix][k % len(self.files[suffix])], dest)
        return dest


def make_pool(directory: Path, seed: int = 0) -> ClipPool:
    """Render ``len(ACTIONS)`` 1.5 s clips of 48 px at 12 fps and encode each as mp4, webm and avi."""
    files: dict[str, list[Path]] = {s: [] for s in CONTAINERS}
    for k, action in enumerate(ACTIONS):
        frames, _ = render_clip(action, SIZE, FPS, DURATION_S, np.random.default_rng([seed, k]))
        for suffix, codec in CONTAINERS.items():
            files[suffix].append(write_video(directory / f"clip{k}{suffix}", frames, FPS, codec=codec))
    return ClipPool(files)


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _write_text(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _write_json(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ recognition

KINETICS_CLASSES = ["abseiling", "air drumming"]


def write_kinetics400(root: Path, pool: ClipPool) -> dict[str, Path]:
    """The CVDF Kinetics-400 layout: ``annotations/{train,val}.csv`` (``label,youtube_id,time_start,time_end,
    split``) and flat ``{train,val}/<youtube_id>_<start:06d>_<end:06d>.mp4``."""
    base = root / "data/kinetics400"
    out: dict[str, Path] = {}
    for split, ids in (
        ("train", ["aaaaaaaaaa0", "bbbbbbbbbb1", "ccccccccc-2", "ddddddddd_3"]),
        ("val", ["eeee0", "ffff1"]),
    ):
        rows = []
        for k, yid in enumerate(ids):
            start = 10 * k
            rows.append([KINETICS_CLASSES[k % 2], yid, start, start + 10, split])
            out[f"{split}_video{k}"] = pool.copy(k, ".mp4", base / split / f"{yid}_{start:06d}_{start + 10:06d}.mp4")
        out[f"{split}_csv"] = _write_csv(
            base / f"annotations/{split}.csv", ["label", "youtube_id", "time_start", "time_end", "split"], rows
        )
    return out


SSV2_LABELS = [
    "Pushing something from left to right",
    "Pushing something from right to left",
    "Turning the camera left while filming something",
    "Turning the camera right while filming something",
    "Putting something on a surface",
]


def write_ssv2(root: Path, pool: ClipPool) -> dict[str, Path]:
    """The 20BN Something-Something-v2 layout: ``annotations/something-something-v2-{labels,train,validation}
    .json`` and ``20bn-something-something-v2/<id>.webm``."""
    base = root / "data/ssv2"
    out = {
        "labels": _write_json(
            base / "annotations/something-something-v2-labels.json", {n: str(i) for i, n in enumerate(SSV2_LABELS)}
        )
    }
    templates = {
        0: ("Pushing [something] from left to right", ["a pen"]),
        1: ("Pushing [something] from right to left", ["a cup"]),
        2: ("Turning the camera left while filming [something]", ["a chair"]),
        3: ("Turning the camera right while filming [something]", ["a book"]),
        4: ("Putting [something] on a surface", ["a box"]),
    }
    for split, ids, classes in (("train", [101, 102, 103, 104], [0, 1, 2, 3]), ("validation", [201, 202], [1, 4])):
        entries = []
        for k, (vid, c) in enumerate(zip(ids, classes, strict=True)):
            template, things = templates[c]
            label = template.replace("[something]", things[0])
            entries.append({"id": str(vid), "label": label, "template": template, "placeholders": things})
            out[f"{split}_video{k}"] = pool.copy(k + c, ".webm", base / f"20bn-something-something-v2/{vid}.webm")
        out[split] = _write_json(base / f"annotations/something-something-v2-{split}.json", entries)
    return out


UCF_CLASSES = ["ApplyEyeMakeup", "Archery"]


def write_ucf101(root: Path, pool: ClipPool) -> dict[str, Path]:
    """The UCF101 layout: ``ucfTrainTestlist/{classInd,trainlist01,testlist01}.txt`` and
    ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi``."""
    base = root / "data/ucf101"
    lists = base / "ucfTrainTestlist"
    out = {"classInd": _write_text(lists / "classInd.txt", [f"{i + 1} {c}" for i, c in enumerate(UCF_CLASSES)])}
    train, test = [], []
    for i, c in enumerate(UCF_CLASSES):
        for g, target in ((8, train), (9, train), (1, test)):
            rel = f"{c}/v_{c}_g{g:02d}_c01.avi"
            out[f"video_{c}_g{g:02d}"] = pool.copy(i + g, ".avi", base / "UCF-101" / rel)
            target.append(f"{rel} {i + 1}" if target is train else rel)
    out["trainlist01"] = _write_text(lists / "trainlist01.txt", train)
    out["testlist01"] = _write_text(lists / "testlist01.txt", test)
    for n in (2, 3):  # the other official splits exist in a real copy
        _write_text(lists / f"trainlist0{n}.txt", train)
        _write_text(lists / f"testlist0{n}.txt", test)
    return out


HMDB_CLASSES = ["brush_hair", "cartwheel"]


def write_hmdb51(root: Path, pool: ClipPool) -> dict[str, Path]:
    """The HMDB51 layout: ``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt`` (``<video>.avi <0|1|2>``)
    and ``videos/<class>/<video>.avi``."""
    base = root / "data/hmdb51"
    out: dict[str, Path] = {}
    for i, c in enumerate(HMDB_CLASSES):
        rows = []
        for j, code in enumerate((1, 1, 2, 0)):  # train, train, test, unused
            name = f"{c}_video_u_nm_np1_fr_goo_{j}.avi"
            rows.append(f"{name} {code}")
            out[f"video_{c}_{j}"] = pool.copy(i + j, ".avi", base / "videos" / c / name)
        for split in (1, 2, 3):
            out[f"split_{c}_{split}"] = _write_text(
                base / f"testTrainMulti_7030_splits/{c}_test_split{split}.txt", rows
            )
    return out


# ------------------------------------------------------------------------------------------ localization


def write_feature_store(
    directory: Path, durations: dict[str, float], classes: list[str], *, dim: int = 32, stride_s: float = 0.5
) -> Path:
    """A ``vidstruct.features/1`` directory as ``vidstruct extract-features`` writes it from a backbone fine-tuned on
    ``classes``: random snippet features (one per ``stride_s``) and softmax probabilities for ``durations``."""
    rng = np.random.default_rng(0)
    manifest = new_manifest(
        checkpoint=directory / "backbone.pt", sha256="0" * 64, model="x3d_m", config_hash="0" * 16,
        window_s=stride_s, stride_s=stride_s, feature_dim=dim, classes=classes,
    )  # fmt: skip
    for vid, duration in durations.items():
        n = max(1, int(np.ceil(duration / stride_s - 1e-9)))
        logits = rng.standard_normal((n, len(classes)))
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        save_array_atomic(directory / f"{vid}.npy", rng.standard_normal((n, dim)).astype(np.float32))
        save_array_atomic(directory / f"{vid}.probs.npy", probs.astype(np.float32))
        manifest["videos"][vid] = {
            "features": f"{vid}.npy", "probs": f"{vid}.probs.npy", "num_snippets": n, "duration_s": duration,
            "video_fps": 30.0,
        }  # fmt: skip
    write_manifest(directory, manifest)
    return directory


ANET_CLASSES = ["Long jump", "Washing dishes"]


def _untrimmed_database(prefix: str) -> dict[str, dict]:
    database = {}
    for k in range(6):
        subset = "validation" if k >= 4 else "training"
        label = ANET_CLASSES[k % 2]
        start = 3.0 + k
        database[f"{prefix}{k:03d}xyzAB"] = {
            "subset": subset, "duration": 30.0 + k, "resolution": "640x360",
            "url": f"https://www.youtube.com/watch?v={prefix}{k:03d}xyzAB",
            "annotations": [{"segment": [start, start + 8.5], "label": label}],
        }  # fmt: skip
    return database


def write_activitynet13(root: Path) -> dict[str, Path]:
    """ActivityNet-1.3: ``annotations/activity_net.v1-3.min.json`` (``version``, ``taxonomy``, ``database``) and
    the snippet features ``features/`` (keyed by the JSON's video ids)."""
    base = root / "data/activitynet13"
    database = _untrimmed_database("an")
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}] + [
        {"nodeId": i + 1, "nodeName": c, "parentId": 0, "parentName": "Root"} for i, c in enumerate(ANET_CLASSES)
    ]
    doc = {"version": "VERSION 1.3", "taxonomy": taxonomy, "database": database}
    ann = _write_json(base / "annotations/activity_net.v1-3.min.json", doc)
    features = write_feature_store(base / "features", {v: e["duration"] for v, e in database.items()}, ANET_CLASSES)
    return {"annotations": ann, "features": features, "video_ids": list(database)}  # type: ignore[dict-item]


def write_hacs(root: Path) -> dict[str, Path]:
    """HACS Segments v1.1.1: ``annotations/HACS_segments_v1.1.1.json`` (``database``, ActivityNet's layout) and the
    snippet features ``features/``."""
    base = root / "data/hacs"
    database = _untrimmed_database("hc")
    ann = _write_json(base / "annotations/HACS_segments_v1.1.1.json", {"database": database})
    features = write_feature_store(base / "features", {v: e["duration"] for v, e in database.items()}, ANET_CLASSES)
    return {"annotations": ann, "features": features, "video_ids": list(database)}  # type: ignore[dict-item]


THUMOS_CLASSES = ["BaseballPitch", "CliffDiving"]


def write_thumos14(root: Path) -> dict[str, Path]:
    """THUMOS14: the temporal annotations as unpacked (``TH14_Temporal_annotations_validation/annotation/
    <Class>_val.txt`` and ``TH14_Temporal_Annotations_Test/annotations/annotation/<Class>_test.txt``, lines
    ``<video_name> <start> <end>``, plus ``Ambiguous_*.txt``) and the snippet features ``features/``."""
    base = root / "data/thumos14"
    dirs = {
        "val": base / "TH14_Temporal_annotations_validation/annotation",
        "test": base / "TH14_Temporal_Annotations_Test/annotations/annotation",
    }
    durations: dict[str, float] = {}
    out: dict[str, Path] = {}
    for split, names in (
        ("val", ["video_validation_0000051", "video_validation_0000052"]),
        ("test", ["video_test_0000004"]),
    ):
        for i, c in enumerate(THUMOS_CLASSES):
            rows = [f"{n} {12.5 + 6 * i + j:.1f} {15.0 + 6 * i + j:.1f}" for j, n in enumerate(names)]
            out[f"{split}_{c}"] = _write_text(dirs[split] / f"{c}_{split}.txt", rows)
        _write_text(dirs[split] / f"Ambiguous_{split}.txt", [f"{names[0]} 40.0 41.5"])
        durations.update({n: 60.0 for n in names})
    out["val_dir"], out["test_dir"] = dirs["val"], dirs["test"]
    out["features"] = write_feature_store(base / "features", durations, THUMOS_CLASSES)
    return out
