"""A job's features choose the models that run: ``shots`` alone constructs and runs no recognizer and no actor models,
``labels`` runs the recognizer; with a moderation policy every job also runs what the policy's rules read; the
document lists only the models that ran and names the skipped stages (and still validates); a shots-only analysis
does not count as indexed for a run that wants every feature.

The profile ``actors`` here has a content shot detector, servicekit's constant recognizer (class ``walk`` on top
everywhere with probability ``CONSTANT_PROB``) and a random-weight action detector with a random-weight person
detector (every person box kept): every stage runs models. Models are counted where the pipeline constructs them
(``load_recognizer``, ``load_actor_models``, the shot detector) and run (a recognition batch: ``WindowTap._flush``;
a keyframe group of the action detector: ``ActorTap._run``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from servicekit import CONSTANT_PROB, Api, cut_video, save_constant_backbone, write_profile
from sqlalchemy import func, select

import vidstruct.pipeline.analyze.models as analyze_models
from vidstruct.cli.main import main
from vidstruct.data.synth.actions import DETECT_ACTIONS
from vidstruct.models.detection import build_action_detector, save_detector
from vidstruct.models.persons.builders import build_person_detector
from vidstruct.models.persons.checkpoint import save_person_detector
from vidstruct.pipeline.analyze import (
    AnalyzeSettings,
    LocalizationSettings,
    RecognitionSettings,
    ShotSettings,
    analyze_video,
    load_models,
)
from vidstruct.pipeline.analyze.actor_tap import ActorTap
from vidstruct.pipeline.analyze.windows import WindowTap
from vidstruct.recipes.analyze import feature_stages
from vidstruct.service.db.models import Actor, Analysis, Job, ModerationFlag, Segment, Shot, Video, Window
from vidstruct.service.indexing.store import is_indexed
from vidstruct.service.settings import ServiceSettings
from vidstruct.structure import read_structure, validate_structure

_ANALYZE_TESTS = str(Path(__file__).resolve().parents[1] / "analyze")
if _ANALYZE_TESTS not in sys.path:  # the analyze tests' kit: a tiny BMN localizer on a tiny backbone
    sys.path.append(_ANALYZE_TESTS)
from analyzekit import save_backbone, save_bmn  # noqa: E402

#: the cut video (servicekit.cut_video): 2 s, one cut at 1.0 s; recognition windows of 1 s every 0.5 s (the last one
#: cut at the video's end)
SHOTS = [(0.0, 1.0), (1.0, 2.0)]
WINDOW_STARTS = [0.0, 0.5, 1.0, 1.5]


def _save_detector(run: Path) -> Path:
    torch.manual_seed(0)
    builder = {
        "backbone": "r2plus1d_tiny", "num_classes": len(DETECT_ACTIONS), "backbone_kwargs": {"widths": [4, 4, 8, 8]},
        "head": "roi", "roi_size": 2, "dropout": 0.0, "relation_dim": 8, "relation_layers": 1, "relation_heads": 1,
        "relation_dropout": 0.0,
    }  # fmt: skip
    prep = {"num_frames": 4, "frame_interval": 2, "target_fps": 10.0, "size": 32, "mean": [0.45] * 3,
            "std": [0.225] * 3}  # fmt: skip
    return save_detector(
        run / "detector.pt", build_action_detector(**builder).eval(), name="roi_random", builder=builder,
        classes=list(DETECT_ACTIONS), class_ids=list(range(1, len(DETECT_ACTIONS) + 1)), preprocessing=prep,
    )  # fmt: skip


@pytest.fixture(scope="session")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny`` (as the other service tests') and ``actors`` (every stage; see the module doc)."""
    root = tmp_path_factory.mktemp("feature_profiles")
    backbone = save_constant_backbone(root / "constant.pt")
    write_profile(root / "tiny.yaml", backbone)
    _save_detector(root / "det")
    torch.manual_seed(0)
    kwargs = {"width": 8, "out_channels": 32, "image_size": 64}
    person = build_person_detector("fcos_tiny", **kwargs).eval()
    save_person_detector(root / "persons" / "person_detector.pt", person, model_name="fcos_tiny", model_kwargs=kwargs)
    (root / "actors.yaml").write_text(
        "task: analyze\nname: actors\n"
        "recognizer: {checkpoint: constant.pt, window_s: 1.0, stride_s: 0.5, top_k: 2}\n"
        "shots: {detector: content, options: {frame_size: [32, 18]}}\n"
        "actors: {detector: det, persons: {detector: persons}, every_s: 1.0, min_person_score: 0.0, min_prob: 0.0}\n"
        "thumbnails: {width: 48}\nruntime: {device: cpu}\n"
    )
    return root


class Counts:
    """Constructions and forward passes of the analysis models while installed (see the module doc)."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.n: Counter[str] = Counter()
        self._wrap(mp, analyze_models, "_shot_detector", "shot detector built")
        self._wrap(mp, analyze_models, "load_recognizer", "recognizer built")
        self._wrap(mp, analyze_models, "_load_localizer", "localizer built")
        self._wrap(mp, analyze_models, "load_actor_models", "actor models built")
        self._wrap(mp, WindowTap, "_flush", "recognition forward")
        self._wrap(mp, ActorTap, "_run", "action detector forward")

    def _wrap(self, mp: pytest.MonkeyPatch, owner: Any, name: str, key: str) -> None:
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.n[key] += 1
            return original(*args, **kwargs)

        mp.setattr(owner, name, counted)

    def take(self) -> dict[str, int]:
        """The counts so far (zeros included), then start again from zero."""
        keys = ("shot detector built", "recognizer built", "localizer built", "actor models built",
                "recognition forward", "action detector forward")  # fmt: skip
        out = {k: self.n[k] for k in keys}
        self.n.clear()
        return out


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counts:
    return Counts(monkeypatch)


def _submit(api: Api, video: bytes, features: str, profile: str = "actors") -> str:
    upload = {"file": ("cut.mp4", video, "video/mp4")}
    data = {"features": features, "profile": profile}
    answer = api.client.post("/v1/jobs", files=upload, data=data, headers=api.auth("write"))
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def _run(api: Api, settings: ServiceSettings | None = None, jobs: int = 1) -> None:
    worker = api.worker()
    if settings is not None:
        worker = type(worker)(settings, factory=api.client.app.state.service.factory)  # type: ignore[attr-defined]
    assert worker.run(exit_when_idle=True) == jobs


def _stored(api: Api, job_id: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The job's analysis document and its stored rows per table."""
    with api.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "SUCCEEDED", job and job.error
        analysis = session.get(Analysis, job.analysis_id)
        assert analysis is not None
        rows = {
            table.__tablename__: session.scalar(select(func.count()).where(table.analysis_id == analysis.id))
            for table in (Shot, Segment, Window, Actor)
        }
        return analysis.document, rows


def test_shots_only_runs_no_recognizer_or_actors_and_all_runs_every_model(
    api: Api, video_bytes: bytes, counts: Counts
) -> None:
    shots_job = _submit(api, video_bytes, "shots")
    _run(api)
    assert counts.take() == {
        "shot detector built": 1, "recognizer built": 0, "localizer built": 0, "actor models built": 0,
        "recognition forward": 0, "action detector forward": 0,
    }  # fmt: skip
    doc, rows = _stored(api, shots_job)
    validate_structure(doc)
    assert set(doc["models"]) == {"shots"}
    assert doc["stages"] == {"ran": ["shots"], "skipped": ["recognition", "actors"]}
    assert [(s["start_s"], s["end_s"]) for s in doc["shots"]] == SHOTS
    assert (doc["windows"], doc["segments"], doc["actors"], doc["embeddings"]) == ([], [], [], None)
    assert rows == {"shots": 2, "segments": 0, "windows": 0, "actors": 0}

    full_job = _submit(api, video_bytes, "shots,labels,segments,actors")
    _run(api)
    seen = counts.take()
    assert {k: seen[k] for k in ("shot detector built", "recognizer built", "localizer built")} == {
        "shot detector built": 1, "recognizer built": 1, "localizer built": 0,
    }  # fmt: skip
    assert seen["actor models built"] == 1
    # 4 windows in one batch (batch_size 8); keyframes 0, 1 and 2 s (2 s is the video's end) in one group
    assert seen["recognition forward"] == 1
    assert seen["action detector forward"] >= 1
    doc, rows = _stored(api, full_job)
    validate_structure(doc)
    assert set(doc["models"]) == {"shots", "recognizer", "actors", "persons"}
    assert "stages" not in doc  # every stage of the profile ran: the document is as before the field existed
    assert [w["start_s"] for w in doc["windows"]] == WINDOW_STARTS
    assert all(w["top"][0]["label"] == "walk" for w in doc["windows"])
    assert all(w["top"][0]["prob"] == pytest.approx(CONSTANT_PROB, abs=1e-6) for w in doc["windows"])
    assert {s["label"] for s in doc["segments"]} == {"walk"}
    assert rows == {"shots": 2, "segments": len(doc["segments"]), "windows": 4, "actors": len(doc["actors"])}
    assert rows["actors"] > 0  # every person box kept (min_person_score 0)


def test_labels_after_a_shots_only_analysis_runs_recognition(api: Api, video_bytes: bytes, counts: Counts) -> None:
    first = _submit(api, video_bytes, "shots")
    second = _submit(api, video_bytes, "labels")
    _run(api, jobs=2)  # one worker, one model cache: the second job needs models the first did not load
    seen = counts.take()
    assert seen["recognizer built"] == 1 and seen["recognition forward"] == 1
    assert seen["actor models built"] == seen["action detector forward"] == 0
    _, first_rows = _stored(api, first)
    doc, rows = _stored(api, second)
    validate_structure(doc)
    assert first_rows == {"shots": 2, "segments": 0, "windows": 0, "actors": 0}
    assert set(doc["models"]) == {"shots", "recognizer"}
    assert doc["stages"] == {"ran": ["shots", "recognition"], "skipped": ["actors"]}
    assert rows == {"shots": 0, "segments": 0, "windows": 4, "actors": 0}  # labels: the windows' rows
    # the newest analysis is the labels one: its windows are what the video serves
    with api.session() as session:
        video_id = session.get(Job, second).video_id  # type: ignore[union-attr]
    answer = api.client.get(f"/v1/videos/{video_id}/segments?aggregate=timestamps", headers=api.auth("read"))
    assert answer.status_code == 200, answer.text


def test_index_wants_every_feature_of_a_service_analysis(api: Api, video_bytes: bytes) -> None:
    job = _submit(api, video_bytes, "shots", profile="tiny")
    _run(api)
    doc, _ = _stored(api, job)
    sha, profile_sha = doc["video"]["sha256"], doc["profile"]["sha256"]
    with api.session() as session:
        assert is_indexed(session, sha, profile_sha, ["shots"])
        assert not is_indexed(session, sha, profile_sha)  # every feature: the shots-only analysis is not enough
        assert not is_indexed(session, sha, profile_sha, ["shots", "labels"])
    full = _submit(api, video_bytes, "shots,labels,segments,actors", profile="tiny")
    _run(api)
    _stored(api, full)
    with api.session() as session:
        assert is_indexed(session, sha, profile_sha)


def test_moderation_runs_what_the_policy_reads(api: Api, video_bytes: bytes, counts: Counts, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {name: walking, labels: [walk], min_prob: 0.5, severity: low, action: flag}\n")
    moderated = dataclasses.replace(api.settings, policy_path=policy)
    job = _submit(api, video_bytes, "moderation")
    _run(api, moderated)
    seen = counts.take()
    assert seen["recognizer built"] == 1 and seen["recognition forward"] == 1  # the rule reads segments
    assert seen["actor models built"] == 0  # ... and no actors
    doc, rows = _stored(api, job)
    validate_structure(doc)
    assert doc["stages"] == {"ran": ["shots", "recognition"], "skipped": ["actors"]}
    assert rows["segments"] == len(doc["segments"]) > 0 and rows["windows"] == 0
    with api.session() as session:
        flagged = session.scalars(select(ModerationFlag.video_id)).all()
        assert len(flagged) == len(doc["segments"]) and set(flagged) == {session.scalar(select(Video.id))}

    # a shots-only job on the flagged video: with a policy it is analysed for what the policy reads too (a check
    # on shots alone would close the open flags as superseded: the video would be unblocked)
    job = _submit(api, video_bytes, "shots")
    _run(api, moderated)
    seen = counts.take()
    assert seen["recognizer built"] == 1 and seen["recognition forward"] == 1
    doc, rows = _stored(api, job)
    assert rows["shots"] == 2 and rows["segments"] == len(doc["segments"]) > 0 and rows["windows"] == 0
    with api.session() as session:
        analysis_id = session.get(Job, job).analysis_id  # type: ignore[union-attr]
        live = session.scalars(select(ModerationFlag).where(ModerationFlag.status == "open")).all()
        assert len(live) == len(doc["segments"]) and {f.analysis_id for f in live} == {analysis_id}

    # a policy reading actors only: the actors run, the recognizer does not
    policy.write_text(
        "rules:\n  - {name: any, labels: [" + ", ".join(DETECT_ACTIONS) + "], min_prob: 0.0, severity: low, "
        "action: flag, sources: [actors]}\n"
    )
    job = _submit(api, video_bytes, "moderation")
    _run(api, moderated)
    seen = counts.take()
    assert seen["recognizer built"] == seen["recognition forward"] == 0
    assert seen["actor models built"] == 1 and seen["action detector forward"] >= 1
    doc, rows = _stored(api, job)
    validate_structure(doc)
    assert doc["stages"] == {"ran": ["actors"], "skipped": ["shots", "recognition"]}
    assert rows["actors"] == len(doc["actors"]) > 0 and rows["segments"] == 0


def test_no_features_left_without_moderation_policy_runs_no_model(api: Api, video_bytes: bytes, counts: Counts) -> None:
    job = _submit(api, video_bytes, "moderation")  # no policy: nothing to read
    _run(api)
    seen = counts.take()
    assert sum(seen.values()) == 0
    doc, rows = _stored(api, job)
    validate_structure(doc)
    assert doc["models"] == {} and doc["stages"] == {"ran": [], "skipped": ["shots", "recognition", "actors"]}
    assert rows == {"shots": 0, "segments": 0, "windows": 0, "actors": 0}


def test_cli_analyze_features_and_a_rerun_asking_for_more(
    profiles: Path, tmp_path: Path, counts: Counts, capsys: pytest.CaptureFixture[str]
) -> None:
    video = cut_video(tmp_path / "cut.mp4")
    out = tmp_path / "out"

    def analyze(*more: str) -> dict[str, Any]:
        args = ["analyze", str(video), "--out", str(out), "--profile", str(profiles / "tiny.yaml"), "--quiet"]
        assert main([*args, "--json", *more]) == 0
        return json.loads(capsys.readouterr().out)

    assert "cut" in analyze("--features", "shots")["done"]
    assert counts.take()["recognizer built"] == 0
    doc = read_structure(out / "cut").document
    assert set(doc["models"]) == {"shots"} and doc["stages"] == {"ran": ["shots"], "skipped": ["recognition"]}
    assert not (out / "cut" / "embeddings.npy").exists()
    assert analyze("--features", "shots")["skipped"] == ["cut"]  # done for what it asks
    # more than the partial analysis ran: analysed again, the recognizer loaded and run
    assert "cut" in analyze("--features", "shots,labels")["done"]
    seen = counts.take()
    assert seen["recognizer built"] == 1 and seen["recognition forward"] == 1
    doc = read_structure(out / "cut").document
    assert set(doc["models"]) == {"shots", "recognizer"} and "stages" not in doc  # tiny has no actors: all ran
    assert analyze()["skipped"] == ["cut"]  # a full analysis serves a run wanting everything
    assert main(["analyze", str(video), "--out", str(out), "--features", "shots,faces", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown feature 'faces'" in err and "\n" not in err


@pytest.mark.parametrize("with_recognizer", [True, False], ids=["recognizer+localizer", "localizer-only"])
def test_pipeline_stages_with_a_localizer(with_recognizer: bool, tmp_path: Path, counts: Counts) -> None:
    backbone = save_backbone(tmp_path / "backbone.pt")
    localizer = save_bmn(tmp_path / "localizer.pt", backbone)
    video = cut_video(tmp_path / "cut.mp4")
    full = AnalyzeSettings(
        shots=ShotSettings("content", {"frame_size": [32, 18]}),
        recognition=RecognitionSettings(str(backbone) if with_recognizer else None, 1.0, 0.5),
        localization=LocalizationSettings(str(localizer)), report=False, device="cpu",
    )  # fmt: skip
    expected = {  # features -> (models in the document, stages skipped)
        "shots": ({"shots"}, ["recognition", "localization"]),
        "labels": ({"shots", "recognizer", "localizer"}, None),
    }
    for features, (models, skipped) in expected.items():
        settings = dataclasses.replace(full, stages=feature_stages(features.split(",")))
        doc = read_structure(analyze_video(load_models(settings), video, tmp_path / features).structure).document
        validate_structure(doc)
        assert set(doc["models"]) == models and doc.get("stages", {}).get("skipped") == skipped
        seen = counts.take()
        assert seen["localizer built"] == (features != "shots")
        assert seen["recognizer built"] == (features != "shots")
        assert seen["recognition forward"] == (features != "shots")
        if features != "shots":
            assert doc["segments"] and {s["source"] for s in doc["segments"]} == {"localizer"}
    # windows without the localizer (stages, not features: recognition alone): the localizer's backbone gives them
    settings = dataclasses.replace(full, stages=frozenset({"recognition"}))
    models = load_models(settings)
    assert (models.localizer, models.localizer_backbone) == (None, None) and models.recognizer is not None
    doc = read_structure(analyze_video(models, video, tmp_path / "windows").structure).document
    validate_structure(doc)
    assert set(doc["models"]) == {"recognizer"} and doc["stages"] == {
        "ran": ["recognition"], "skipped": ["shots", "localization"],
    }  # fmt: skip
    assert [w["start_s"] for w in doc["windows"]] == WINDOW_STARTS
    assert all(s["source"] == "windows" for s in doc["segments"])  # merged windows (random weights: maybe none)
    # loaded for everything, restricted per job without loading again (the service worker's cache)
    every = load_models(full)
    counts.take()
    only_shots = every.restricted(feature_stages(["shots"]))
    assert (only_shots.recognizer, only_shots.localizer, only_shots.shot_detector is every.shot_detector) == (
        None, None, True,
    )  # fmt: skip
    assert every.covers(None) and only_shots.covers({"shots"}) and not only_shots.covers({"shots", "recognition"})
    with pytest.raises(ValueError, match="cannot run"):
        only_shots.restricted(None)
