"""Person boxes: box AP@0.5 of the synthetic person detector on held-out keyframes, against the alternatives (CPU).

One command (each ``vidstruct`` command is printed as it runs):

1. ``vidstruct synth --task detect``: videos with 2-3 actors and their boxes at 1 Hz keyframes (~80/20 split
   into ``train.csv`` / ``val.csv``);
2. ``vidstruct train`` of ``configs/person_detection/synth_fcos_tiny.yaml`` (``fcos_tiny``: a small FCOS from
   random weights), once per seed of ``--seeds`` (``train.seed``: initial weights and data order), and of the
   same config with ``model.name=fasterrcnn_mobilenet_v3_large_320_fpn`` (torchvision's smallest two-stage
   detector, also from random weights: nothing is downloaded; fed the same 128 px frames, ``min_size`` /
   ``max_size`` 128) for the same steps, seed 0 — the alternative;
3. every detector, untrained (the recipe's initial weights) and trained, runs as a person-box source
   (:func:`vidstruct.pipeline.persons.person_box_source`, ``min_score`` 0) on the held-out keyframes; its
   boxes are scored by AVA's frame-mAP with the single class ``person``
   (:func:`vidstruct.pipeline.persons.evaluate.evaluate_person_boxes`, which calls
   :func:`vidstruct.eval.spatiotemporal.evaluate_ava`: PASCAL VOC AP at IoU 0.5, at most 50 boxes per
   keyframe), i.e. box AP@0.5;
4. a sanity row: the held-out ground truth written as a proposals CSV (score 1) through the proposals source
   must score AP 1.

Rows: AP@0.5 (mean ± sd over seeds) and its difference to the alternative's (trained Faster R-CNN: a ratio
would divide by its near-zero AP), training seconds per step (the whole ``vidstruct train`` command ÷ steps)
and their ratio to the alternative's, detection keyframes per second (decode + forward, batch 8, over the
held-out keyframes). Times are wall-clock on this machine and move with its load; the APs do not.

``--quick``: 30 videos, 80 steps, one seed (the learning test's setting). Outputs go to ``--work`` (default
``bench_out/person_detector``).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs/person_detection/synth_fcos_tiny.yaml"
ALTERNATIVE = "fasterrcnn_mobilenet_v3_large_320_fpn"
ALTERNATIVE_SIZE = {"min_size": 128, "max_size": 128}  # not its default 320 px: 6.25x the pixels


def _run(cmd: list[str]) -> float:
    print("$", shlex.join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - start


def _vidstruct(*args: str) -> list[str]:
    return [sys.executable, "-m", "vidstruct", *args]


def _ground_truth_proposals(val_csv: Path, out: Path) -> Path:
    """The held-out person boxes as an AVA proposals CSV with score 1 (one row per person and keyframe)."""
    from vidstruct.pipeline.persons.evaluate import person_ground_truth

    rows = [
        f"{r.video_id},{r.timestamp_s:04.0f},{r.box[0]},{r.box[1]},{r.box[2]},{r.box[3]},,1.0"
        for r in person_ground_truth(val_csv)
    ]
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def _score(source: object, val_csv: Path) -> tuple[float, float, int]:
    """``(AP@0.5, keyframes per second, keyframes)`` of a person-box source on the held-out keyframes."""
    from vidstruct.pipeline.persons.evaluate import evaluate_person_boxes

    start = time.perf_counter()
    result = evaluate_person_boxes(source, val_csv)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return result.mAP, result.num_keyframes / seconds, result.num_keyframes


def _untrained(name: str, seed: int) -> object:
    from vidstruct.models.persons import build_person_detector
    from vidstruct.pipeline.persons.detector import DetectorSource
    from vidstruct.recipes.person_detection import CLASSES

    torch.manual_seed(seed)  # as the recipe seeds the initial weights
    kwargs = {"image_size": 128} if name == "fcos_tiny" else ALTERNATIVE_SIZE  # as in the configs
    model = build_person_detector(name, num_classes=len(CLASSES), **kwargs)
    return DetectorSource(model, f"{name} (untrained)", min_score=0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 videos, 80 steps, one seed")
    parser.add_argument("--full", action="store_true", help="(the default settings; for run_all.py)")
    parser.add_argument("--videos", type=int, help="synthetic videos (default 100; quick 30)")
    parser.add_argument("--steps", type=int, help="training steps of every detector (default 300; quick 80)")
    parser.add_argument("--seeds", default=None, help="fcos_tiny seeds (default 0,1,2; quick 0)")
    parser.add_argument("--no-alternative", action="store_true", help=f"skip training {ALTERNATIVE}")
    parser.add_argument("--work", default=str(ROOT / "bench_out/person_detector"))
    args = parser.parse_args(argv)
    videos = args.videos or (30 if args.quick else 100)
    steps = args.steps or (80 if args.quick else 300)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    data = work / "synth_detect"
    fps, duration = (5, 4.0) if args.quick else (10, 5.0)
    _run(_vidstruct("synth", "--task", "detect", "--out", str(data), "--num-videos", str(videos), "--seed", "11",
                    "--size", "128", "--fps", str(fps), "--duration", str(duration), "-q"))  # fmt: skip
    train_csv, val_csv = data / "train.csv", data / "val.csv"
    common = [
        f"data.train.annotations={train_csv}", f"data.val.annotations={val_csv}", "train.device=cpu",
        "train.tensorboard=false", f"train.ckpt_every={steps}", f"train.log_every={max(1, steps // 5)}",
    ]  # fmt: skip

    from vidstruct.pipeline.persons import person_box_source

    rows: dict[str, dict[str, list[float]]] = {}

    def add(row: str, ap: float, kps: float, step_s: float | None) -> None:
        slot = rows.setdefault(row, {"ap": [], "kps": [], "step_s": []})
        slot["ap"].append(ap)
        slot["kps"].append(kps)
        if step_s is not None:
            slot["step_s"].append(step_s)

    ap, kps, keyframes = _score(person_box_source(proposals=_ground_truth_proposals(val_csv, work / "gt.csv")), val_csv)
    add("ground truth as proposals (sanity)", ap, kps, None)
    trained = [("fcos_tiny", seed, CONFIG) for seed in seeds]
    if not args.no_alternative:  # the same config with the alternative model, fed the same 128 px frames
        alt_config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        alt_config["model"] = {"name": ALTERNATIVE, **ALTERNATIVE_SIZE}
        (work / "alternative.yaml").write_text(yaml.safe_dump(alt_config), encoding="utf-8")
        trained.append((ALTERNATIVE, 0, work / "alternative.yaml"))
    for name, seed, config in trained:
        add(f"{name}, untrained", *_score(_untrained(name, seed), val_csv)[:2], None)
        run = work / f"{name}_seed{seed}"
        seconds = _run(_vidstruct("train", str(config), *common, f"train.seed={seed}", "--max-steps", str(steps),
                                  "--out", str(run), "--quiet"))  # fmt: skip
        ap, kps, _ = _score(person_box_source(detector=run, min_score=0.0), val_csv)
        add(f"{name}, {steps} steps", ap, kps, seconds / steps)
    alt = rows.get(f"{ALTERNATIVE}, {steps} steps")
    alt_ap = statistics.mean(alt["ap"]) if alt else None
    alt_step = statistics.mean(alt["step_s"]) if alt else None
    print(f"\nbox AP@0.5 on {keyframes} held-out keyframes ({videos} videos of 128 x 128 px, ~20% held out); "
          f"seeds {','.join(map(str, seeds))} for fcos_tiny\n")  # fmt: skip
    print("| person boxes | runs | AP@0.5 | AP - trained Faster R-CNN's | train s/step (incl. start-up) | "
          "s/step ratio to Faster R-CNN's | keyframes/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for row, slot in rows.items():
        aps = slot["ap"]
        mean = statistics.mean(aps)
        spread = f"{mean:.3f} ± {statistics.stdev(aps):.3f}" if len(aps) > 1 else f"{mean:.3f}"
        gain = f"{mean - alt_ap:+.3f}" if alt_ap is not None else "n/a"
        step_s = f"{statistics.mean(slot['step_s']):.3f}" if slot["step_s"] else "-"
        step_ratio = f"{statistics.mean(slot['step_s']) / alt_step:.2f}" if slot["step_s"] and alt_step else "-"
        per_run = " / ".join(f"{a:.3f}" for a in aps) if len(aps) > 1 else ""
        print(f"| {row} | {len(aps)} | {spread}{' (' + per_run + ')' if per_run else ''} | {gain} | {step_s} | "
              f"{step_ratio} | {statistics.mean(slot['kps']):.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
