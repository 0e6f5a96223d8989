"""``vidstruct check-data RECIPE`` on a user's copy of a benchmark: what is missing is named before a long run.

Each test copies the synthetic benchmark tree, breaks one thing (a split file, a video, a feature file, a
feature entry) and runs the check from the copy: a missing annotation file is a one-line error naming it (exit 2);
a missing video or feature is listed per sample with its split and index (exit 1); the intact copy passes (exit 0).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vidstruct.cli.main import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def user_copy(zoo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the benchmark tree, made the working directory (the recipes' paths are relative)."""
    shutil.copytree(zoo_root / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(capsys: pytest.CaptureFixture[str], recipe: str, *args: str) -> tuple[int, str, str]:
    code = main(["check-data", str(CONFIGS / recipe), "--workers", "0", "--quiet", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("recipe", "split_file"),
    [
        ("recognition/kinetics400_x3d_m.yaml", "data/kinetics400/annotations/val.csv"),
        ("recognition/ssv2_slowfast_r50.yaml", "data/ssv2/annotations/something-something-v2-labels.json"),
        ("recognition/ucf101_r2plus1d10_mosi.yaml", "data/ucf101/ucfTrainTestlist/testlist01.txt"),
        ("localization/activitynet13_bmn_relation.yaml", "data/activitynet13/annotations/activity_net.v1-3.min.json"),
        ("localization/thumos14_bmn.yaml", "data/thumos14/features/manifest.json"),
    ],
    ids=["kinetics-csv", "ssv2-labels", "ucf101-testlist", "anet-json", "thumos-features"],
)
def test_a_missing_split_file_is_named_in_one_line(
    recipe: str, split_file: str, user_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(capsys, recipe, "--quick")[0] == 0  # the intact copy passes
    (user_copy / split_file).unlink()
    code, out, err = check(capsys, recipe, "--quick")
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert split_file in err or Path(split_file).parent.as_posix() in err


def test_hmdb51_without_its_split_files_says_which_split(user_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for f in (user_copy / "data/hmdb51/testTrainMulti_7030_splits").glob("*_test_split1.txt"):
        f.unlink()
    code, _, err = check(capsys, "recognition/hmdb51_r2plus1d10_mosi.yaml")
    assert code == 2
    assert "data/hmdb51/testTrainMulti_7030_splits: no '<class>_test_split1.txt' files found" in err


@pytest.mark.parametrize(
    ("recipe", "video", "split", "index"),
    [
        (
            "recognition/kinetics400_slowfast_r50_8x8.yaml",
            "data/kinetics400/train/bbbbbbbbbb1_000010_000020.mp4",
            "train",
            1,
        ),
        ("recognition/ssv2_slowfast_r50.yaml", "data/ssv2/20bn-something-something-v2/202.webm", "val", 1),
        ("recognition/ucf101_r2plus1d10_mosi.yaml", "data/ucf101/UCF-101/Archery/v_Archery_g01_c01.avi", "val", 1),
        (
            "recognition/hmdb51_r2plus1d10_mosi.yaml",
            "data/hmdb51/videos/cartwheel/cartwheel_video_u_nm_np1_fr_goo_1.avi",
            "train",
            3,
        ),
    ],
    ids=["kinetics", "ssv2", "ucf101", "hmdb51"],
)
def test_a_missing_video_is_listed_with_its_split_and_index(
    recipe: str, video: str, split: str, index: int, user_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (user_copy / video).unlink()
    code, out, err = check(capsys, recipe, "--quick", "--json")
    assert code == 1
    report = json.loads(out)
    assert [(b["split"], b["index"], b["error"]) for b in report["bad"]] == [(split, index, "VideoNotFoundError")]
    assert report["bad"][0]["path"].endswith(video)
    assert sum(s["bad"] for s in report["splits"].values()) == 1
    assert err == "error: 1 sample(s) failed to decode\n"


def test_annotated_videos_without_features_are_listed(user_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """HACS: one video's feature file deleted, another never extracted (the manifest records why)."""
    store = user_copy / "data/hacs/features"
    manifest = json.loads((store / "manifest.json").read_text())
    train_ids = sorted(manifest["videos"])[:4]  # the writer's first four videos are the training subset
    (store / f"{train_ids[1]}.npy").unlink()
    del manifest["videos"][train_ids[3]]
    manifest["failed"][train_ids[3]] = "videos/x.mp4: no such file"
    (store / "manifest.json").write_text(json.dumps(manifest))
    code, out, err = check(capsys, "localization/hacs_bmn_relation.yaml", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["splits"] == {"train": {"samples": 4, "bad": 2}, "val": {"samples": 2, "bad": 0}}
    first, second = report["bad"]
    assert (first["path"], first["error"]) == (train_ids[1], "FeatureStoreError")
    assert f"{train_ids[1]}.npy: missing" in first["reason"]
    assert (second["path"], second["error"]) == (train_ids[3], "MissingFeatures")
    assert "extract-features failed: videos/x.mp4: no such file" in second["reason"]
    assert err == "error: 2 annotated video(s) lack usable features\n"
