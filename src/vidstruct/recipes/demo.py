"""``vidstruct demo``: the project's main job end to end, on an embedded default.

Steps (each writes into ``out``):
1. synthesize a small labelled dataset of motion classes (real H.264 files);
2. train a narrow R(2+1)D on it (CPU-sized; the step count follows ``budget_s``);
3. test it on the held-out videos (3 temporal views, softmax averaged);
4. synthesize a held-out *untrimmed* video with several actions and run
   sliding-window prediction on it: per-window JSON (every class's probability)
   and a timeline PNG with the ground-truth segments outlined;
5. (unless ``localization=False``) temporal action localization with the
   trained model as backbone: a small synthetic untrimmed set, snippet
   features, a short BMN training, held-out AR@100 / average mAP, and
   ``vidstruct localize`` on a held-out video (``localization.json``,
   ``localization.png``, ``localizer.pt``; see
   :mod:`vidstruct.recipes.demo_localization`);
6. (unless ``detection=False``) spatio-temporal action detection: a small ``synth --task detect`` set, the
   person detector and the action detector (relation head) trained on time budgets, held-out person AP@0.5 and
   frame-mAP@0.5, and ``vidstruct detect-actions`` on a held-out video (``actions.json``, ``actions.csv``,
   ``actions.mp4``, ``person_detector.pt``, ``detector.pt``; see :mod:`vidstruct.recipes.demo_detection`);
7. ``profile.yaml``, an analysis profile naming the trained models (paths relative to the file; with step 6,
   an ``actors`` section), and ``vidstruct analyze`` with it on step 4's held-out untrimmed video:
   ``analysis/VIDEO_ID/structure.json``, ``report.html``... (:mod:`vidstruct.recipes.demo_analyze`).

``quick=True`` keeps every step but sizes each for a test (a few dozen small videos, a handful of
optimizer steps): the outputs have the same files and structure, not the accuracy.

The model checkpoint (``model.ckpt``) it writes can be used with
``vidstruct predict`` / ``export`` / ``test``; the localizer (``localizer.pt``)
with ``vidstruct localize``.

What the demo may delete (:mod:`vidstruct.recipes.demo_folder`): only folders it marked as its own in this or
an earlier run; an ``out`` with foreign content is refused in one line. Every file it writes itself is written
atomically.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidstruct.atomic import atomic_path, write_json_atomic
from vidstruct.config import load_config
from vidstruct.data.synth import generate
from vidstruct.errors import ConfigError
from vidstruct.pipeline.recognizer import Recognizer, window_matrix
from vidstruct.pipeline.timeline import plot_window_timeline
from vidstruct.recipes.demo_analyze import ANALYSIS_SUBDIR, run_analyze_demo, write_demo_profile
from vidstruct.recipes.demo_detection import DETECTION_SUBDIRS, FILES, DetectionDemoSize, run_detection_demo
from vidstruct.recipes.demo_folder import MARKER, claim_output, copy_atomic, demo_subdir
from vidstruct.recipes.demo_localization import LOCALIZATION_SUBDIRS, STRIDE_S, run_localization_demo
from vidstruct.recipes.recognition import run_test, run_training

__all__ = ["FULL", "MARKER", "QUICK", "DemoSize", "run_demo"]

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "recognition" / "synth_r2plus1d_tiny.yaml"
#: training throughput of the demo model on 2 CPU cores (clips/s: 40-50 measured at load ~3, 2-7 with 4-7 other jobs)
_CLIPS_PER_S = 40.0


@dataclass(frozen=True)
class DemoSize:
    """How big each step of the demo is.

    ``clips`` trimmed videos of ``clip_size`` px and ``clip_duration_s`` s; ``steps`` optimizer steps of
    ``batch`` clips (``None``: from the time budget); ``untrimmed_s``: the sliding-window video;
    ``loc_*``: the localization step's videos, size, duration, snippet step (seconds) and BMN steps (``None``:
    from the budget);
    ``num_workers``: data-loader processes (``None``: the config's); ``detection``: the detection step's size.
    """

    clips: int = 200
    clip_size: int = 96
    clip_duration_s: float = 3.0
    batch: int = 16
    steps: int | None = None
    untrimmed_s: float = 16.0
    loc_videos: int = 48
    loc_duration_s: float = 8.0
    loc_size: int = 64
    loc_stride_s: float = STRIDE_S
    loc_steps: int | None = None
    num_workers: int | None = None
    detection: DetectionDemoSize = DetectionDemoSize()


#: the demo's sub-folders of ``out`` (recognition steps, then localization, then detection)
SUBDIRS = ("data", "run", "test", "untrimmed", *LOCALIZATION_SUBDIRS, *DETECTION_SUBDIRS, ANALYSIS_SUBDIR)
FULL = DemoSize()
#: the quick demo's person detector steps: enough for boxes above the detection step's person score
QUICK_PERSON_STEPS = 60
QUICK = DemoSize(
    clips=40, clip_size=64, clip_duration_s=2.0, batch=8, steps=4, untrimmed_s=6.0, loc_videos=8,
    loc_duration_s=4.0, loc_stride_s=0.5, loc_steps=4, num_workers=0,
    detection=DetectionDemoSize(
        videos=10, duration_s=3.0, person_steps=QUICK_PERSON_STEPS, action_steps=4, widths=(8, 8, 16, 16)
    ),
)  # fmt: skip


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def _embedded_config() -> Path:
    """The demo config of the source checkout (``make demo`` installs vidstruct in editable mode)."""
    if not CONFIG.is_file():
        raise ConfigError(f"{CONFIG}: demo config not found (run the demo from a source checkout: make demo)")
    return CONFIG


def run_demo(
    out: str | Path,
    *,
    seed: int = 0,
    budget_s: float = 180.0,
    quiet: bool = False,
    localization: bool = True,
    quick: bool = False,
    detection: bool = True,
    person_budget_s: float = 20.0,
    action_budget_s: float = 45.0,
) -> dict[str, Any]:
    """Run the demo into ``out``; returns a JSON-ready summary of what was written and measured (also written
    to ``out/summary.json``; its numbers are exactly those of the files it names).

    ``budget_s`` is the recognition training budget; the localization step (``localization=True``) trains its
    BMN for a third of it. ``detection``: the detection step, its person detector and action detector trained
    for ``person_budget_s`` / ``action_budget_s``. ``quick``: every step at test size (:data:`QUICK`), whatever
    the budgets.
    """
    size = QUICK if quick else FULL
    config = _embedded_config()
    subdirs = (*SUBDIRS[:4], *(LOCALIZATION_SUBDIRS if localization else ()),
               *(DETECTION_SUBDIRS if detection else ()), ANALYSIS_SUBDIR)  # fmt: skip
    out = claim_output(out, subdirs)
    started = time.perf_counter()
    summary: dict[str, Any] = {"out": str(out), "quick": quick}
    n = 5 + localization + detection

    _say(quiet, f"[1/{n}] synthesizing {size.clips} labelled clips (10 motion classes) into {out / 'data'}")
    data = generate(
        "classify", demo_subdir(out, "data"), num_videos=size.clips, seed=seed, size=size.clip_size, fps=25,
        duration=size.clip_duration_s,
    )  # fmt: skip
    summary["dataset"] = {"videos": len(data.videos), "classes": data.classes, "splits": data.splits}

    batch = size.batch
    steps = size.steps or int(max(60, min(1500, budget_s * _CLIPS_PER_S / batch)))
    run_dir = demo_subdir(out, "run")
    overrides = [
        f"data.train.annotations={data.annotation_files['train']}",
        f"data.val.annotations={data.annotation_files['val']}",
        f"data.classes={data.annotation_files['classes']}",
        f"train.max_steps={steps}",
        f"train.batch_size={batch}",
        f"train.ckpt_every={max(50, steps // 4)}",
        "train.eval_every=0",
        f"train.seed={seed}",
    ]
    if size.num_workers is not None:
        overrides.append(f"data.num_workers={size.num_workers}")
    cfg, composed = load_config(config, overrides)
    _say(quiet, f"[2/{n}] training {cfg.model.name} for {steps} steps of {batch} clips (budget {budget_s:.0f} s)")
    t0 = time.perf_counter()
    run_training(cfg, run_dir, composed=composed, quiet=quiet)
    train_s = time.perf_counter() - t0
    ckpt = copy_atomic(run_dir / "model.pt", out / "model.ckpt")
    summary["training"] = {
        "model": cfg.model.name,
        "steps": steps,
        "batch_size": batch,
        "seconds": round(train_s, 1),
        "run_dir": str(run_dir),
    }

    _say(quiet, f"[3/{n}] testing on the held-out clips ({cfg.test.temporal_views} temporal views, softmax averaged)")
    test_dir = demo_subdir(out, "test")
    report = run_test(cfg, ckpt, composed=composed, split="val", out_dir=test_dir, quiet=True)
    summary["held_out"] = {k: float(v) for k, v in report["metrics"].items()}
    summary["held_out"]["videos"] = report["evaluated"]
    _say(quiet, "      " + "  ".join(f"{k} {v:.3f}" for k, v in report["metrics"].items()))

    _say(quiet, f"[4/{n}] analysing a held-out untrimmed video with sliding windows")
    long = generate(
        "localize", demo_subdir(out, "untrimmed"), num_videos=1, seed=seed + 1000, size=size.clip_size, fps=25,
        duration=size.untrimmed_s,
    )  # fmt: skip
    video = long.videos[0]
    truth_db = json.loads(Path(long.annotation_files["annotations"]).read_text())["database"]
    truth = [(a["segment"][0], a["segment"][1], a["label"]) for a in next(iter(truth_db.values()))["annotations"]]
    recognizer = Recognizer.from_checkpoint(ckpt)
    windows = recognizer.predict_windows(video, stride_s=0.5, top_k=0)
    with atomic_path(out / "timeline.png") as tmp:
        plot_window_timeline(
            tmp,
            [w.start_s for w in windows],
            [w.end_s for w in windows],
            window_matrix(windows, recognizer.classes),
            recognizer.classes,
            title=f"{video.name}: per-window probabilities (red: ground truth)",
            truth=truth,
        )
    predictions = {"video": str(video), "windows": [w.to_dict() for w in windows], "ground_truth": truth}
    write_json_atomic(out / "predictions.json", predictions)
    summary["untrimmed"] = {"video": str(video), "windows": len(windows), "ground_truth": truth}
    summary["files"] = {
        "checkpoint": str(ckpt),
        "timeline": str(out / "timeline.png"),
        "predictions": str(out / "predictions.json"),
        "test_report": str(test_dir / "metrics.json"),
    }
    if localization:
        _say(quiet, f"[5/{n}] temporal action localization: BMN on snippet features of the trained model")
        loc = run_localization_demo(
            out, ckpt, seed=seed, budget_s=budget_s / 3, steps=size.loc_steps, num_videos=size.loc_videos,
            duration_s=size.loc_duration_s, size=size.loc_size, stride_s=size.loc_stride_s, quiet=quiet,
        )  # fmt: skip
        summary["localization"] = {k: v for k, v in loc.items() if k != "files"}
        summary["files"].update(loc["files"])
    if detection:
        _say(quiet, f"[{n - 1}/{n}] spatio-temporal action detection: person detector, action detector, detect-actions")
        det = run_detection_demo(
            out, seed=seed, person_budget_s=person_budget_s, action_budget_s=action_budget_s, size=size.detection,
            quiet=quiet,
        )  # fmt: skip
        summary["detection"] = {k: v for k, v in det.items() if k != "files"}
        summary["files"].update(det["files"])
    _say(quiet, f"[{n}/{n}] vidstruct analyze on the held-out untrimmed video with profile.yaml (the trained models)")
    actors = (FILES["action_detector"], FILES["person_detector"]) if detection else None
    profile = write_demo_profile(out, localizer="localizer.pt" if localization else None, actors=actors)
    analysis = run_analyze_demo(out, profile, video, quiet=quiet)
    summary["analysis"] = {k: v for k, v in analysis.items() if k != "files"}
    summary["files"].update(analysis["files"])
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_json_atomic(out / "summary.json", summary)
    _say(quiet, f"\ndone in {summary['seconds']:.0f} s. Wrote:")
    width = max(12, *map(len, summary["files"]))
    for role, path in summary["files"].items():
        _say(quiet, f"  {role:{width}s} {path}")
    _say(quiet, f"  {'summary':{width}s} {out / 'summary.json'}")
    if detection:
        det = summary["detection"]
        person_ap, frame_map = det["persons"]["held_out"]["person_ap50"], det["actions"]["held_out"]["mAP"]
        _say(quiet, f"Detection (held out): person AP@0.5 {person_ap:.3f}, frame-mAP@0.5 {frame_map:.3f} on "
                    f"ground-truth boxes; detect-actions: {det['actor_boxes']} actor boxes on {det['keyframes']} "
                    f"keyframes of {Path(det['video']).name}")  # fmt: skip
    _say(quiet, f"Try: vidstruct predict {video} --checkpoint {ckpt} --window-s 1.0 --json")
    if localization:
        _say(quiet, f"     vidstruct localize {summary['localization']['video']} --checkpoint {out / 'localizer.pt'}")
    if detection:
        _say(quiet, f"     vidstruct detect-actions {summary['detection']['video']} --checkpoint "
                    f"{out / FILES['action_detector']} --detector {out / FILES['person_detector']} --json")  # fmt: skip
    _say(quiet, f"     vidstruct analyze VIDEO --profile {profile} --out analysis/")
    _say(quiet, f"Open the report of the analysed video: {analysis['files']['report']}")
    return summary
