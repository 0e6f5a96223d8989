"""``vidstruct demo``: the project's main job end to end, on an embedded default.

Steps (each writes into ``out``):
1. synthesize a small labelled dataset of motion classes (real H.264 files);
2. train a narrow R(2+1)D on it (CPU-sized; the step count follows ``budget_s``);
3. test it on the held-out videos (3 temporal views, softmax averaged);
4. synthesize a held-out *untrimmed* video with several actions and run
   sliding-window prediction on it: per-window JSON and a timeline PNG with
   the ground-truth segments outlined;
5. (unless ``localization=False``) temporal action localization with the
   trained model as backbone: a small synthetic untrimmed set, snippet
   features, a short BMN training, held-out AR@100 / average mAP, and
   ``vidstruct localize`` on a held-out video (``localization.json``,
   ``localization.png``, ``localizer.pt``; see
   :mod:`vidstruct.pipeline.demo_localization`).

The model checkpoint (``model.ckpt``) it writes can be used with
``vidstruct predict`` / ``export`` / ``test``; the localizer (``localizer.pt``)
with ``vidstruct localize``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from vidstruct.config import load_config
from vidstruct.errors import ConfigError

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "recognition" / "synth_r2plus1d_tiny.yaml"
#: training throughput of the demo model on 2 CPU cores (clips/s: 40-50 measured at load ~3, 2-7 with 4-7 other jobs)
_CLIPS_PER_S = 40.0


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def _embedded_config() -> Path:
    """The demo config of the source checkout (``make demo`` installs vidstruct in editable mode)."""
    if not CONFIG.is_file():
        raise ConfigError(f"{CONFIG}: demo config not found (run the demo from a source checkout: make demo)")
    return CONFIG


def run_demo(
    out: str | Path, *, seed: int = 0, budget_s: float = 180.0, quiet: bool = False, localization: bool = True
) -> dict[str, Any]:
    """Run the demo into ``out``; returns a JSON-ready summary of what was written and measured.

    ``budget_s`` is the recognition training budget; the localization step (``localization=True``) trains its
    BMN for a third of it.
    """
    from vidstruct.data.synth import generate
    from vidstruct.engine.recipes import run_test, run_training
    from vidstruct.pipeline.recognizer import Recognizer, window_matrix
    from vidstruct.pipeline.timeline import plot_window_timeline

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary: dict[str, Any] = {"out": str(out)}
    n = 5 if localization else 4

    _say(quiet, f"[1/{n}] synthesizing 200 labelled clips (10 motion classes) into {out / 'data'}")
    data = generate("classify", out / "data", num_videos=200, seed=seed, size=96, fps=25, duration=3.0)
    summary["dataset"] = {"videos": len(data.videos), "classes": data.classes, "splits": data.splits}

    batch = 16
    steps = int(max(60, min(1500, budget_s * _CLIPS_PER_S / batch)))
    run_dir = out / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
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
    cfg, composed = load_config(_embedded_config(), overrides)
    _say(quiet, f"[2/{n}] training {cfg.model.name} for {steps} steps of {batch} clips (budget {budget_s:.0f} s)")
    t0 = time.perf_counter()
    run_training(cfg, run_dir, composed=composed, quiet=quiet)
    train_s = time.perf_counter() - t0
    ckpt = out / "model.ckpt"
    shutil.copyfile(run_dir / "model.pt", ckpt)
    summary["training"] = {
        "model": cfg.model.name,
        "steps": steps,
        "seconds": round(train_s, 1),
        "run_dir": str(run_dir),
    }

    _say(quiet, f"[3/{n}] testing on the held-out clips (3 temporal views, softmax averaged)")
    report = run_test(cfg, ckpt, composed=composed, split="val", out_dir=out / "test", quiet=True)
    summary["held_out"] = {k: round(float(v), 4) for k, v in report["metrics"].items()}
    summary["held_out"]["videos"] = report["evaluated"]
    _say(quiet, "      " + "  ".join(f"{k} {v:.3f}" for k, v in report["metrics"].items()))

    _say(quiet, f"[4/{n}] analysing a held-out untrimmed video with sliding windows")
    long = generate("localize", out / "untrimmed", num_videos=1, seed=seed + 1000, size=96, fps=25, duration=16.0)
    video = long.videos[0]
    truth_db = json.loads(Path(long.annotation_files["annotations"]).read_text())["database"]
    truth = [(a["segment"][0], a["segment"][1], a["label"]) for a in next(iter(truth_db.values()))["annotations"]]
    recognizer = Recognizer.from_checkpoint(ckpt)
    windows = recognizer.predict_windows(video, stride_s=0.5, top_k=0)
    timeline = plot_window_timeline(
        out / "timeline.png",
        [w.start_s for w in windows],
        [w.end_s for w in windows],
        window_matrix(windows, recognizer.classes),
        recognizer.classes,
        title=f"{video.name}: per-window probabilities (red: ground truth)",
        truth=truth,
    )
    predictions = {"video": str(video), "windows": [w.to_dict() for w in windows], "ground_truth": truth}
    for w in predictions["windows"]:
        w["predictions"] = w["predictions"][:3]
    (out / "predictions.json").write_text(json.dumps(predictions, indent=2))
    summary["untrimmed"] = {"video": str(video), "windows": len(windows), "ground_truth": truth}
    summary["files"] = {
        "checkpoint": str(ckpt),
        "timeline": str(timeline),
        "predictions": str(out / "predictions.json"),
        "test_report": str(out / "test" / "metrics.json"),
    }
    if localization:
        from vidstruct.pipeline.demo_localization import run_localization_demo

        _say(quiet, f"[5/{n}] temporal action localization: BMN on snippet features of the trained model")
        loc = run_localization_demo(out, ckpt, seed=seed, budget_s=budget_s / 3, quiet=quiet)
        summary["localization"] = {k: v for k, v in loc.items() if k != "files"}
        summary["files"].update(loc["files"])
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    _say(quiet, f"\ndone in {summary['seconds']:.0f} s. Wrote:")
    width = max(12, *map(len, summary["files"]))
    for role, path in summary["files"].items():
        _say(quiet, f"  {role:{width}s} {path}")
    _say(quiet, f"  {'summary':{width}s} {out / 'summary.json'}")
    _say(quiet, f"Try: vidstruct predict {video} --checkpoint {ckpt} --window-s 1.0 --json")
    if localization:
        _say(quiet, f"     vidstruct localize {summary['localization']['video']} --checkpoint {out / 'localizer.pt'}")
    return summary
