"""MoSI initialization vs random initialization, same fine-tuning budget: a miniature of the paper's claim.

MoSI (Huang et al., CVPR 2021) reports that a video network pretrained to classify the
pseudo-motion of clips generated from still images fine-tunes to higher action-recognition
accuracy than the same network trained from scratch (UCF101 / HMDB51). This benchmark checks
the claim offline, at CPU scale:

1. **data**: ``vidstruct synth --task classify`` videos (10 motion-only classes: move
   left / right / up / down, grow, shrink, rotate cw / ccw, bounce, stay still; 64 px, 10 fps,
   2 s). Fine-tuning uses only the first ``--per-class`` training videos of each class (6:
   data-limited); accuracy is measured on the held-out ``val.txt`` split (1 centre clip per video);
2. **pretraining**: ``vidstruct pretrain-mosi`` (:func:`vidstruct.recipes.mosi.run_pretraining`)
   of ``r2plus1d_tiny`` (widths 8-16-32-64) on procedural textured images (no video, no label):
   joint 9-class labels, 8 frames of 32 px, colour jitter and flips on. Its pretext accuracy on
   held-out images is reported. The **static mask is off** by default (``--static-mask`` turns the
   paper's mask, ratio 0.3-0.5, on): at this budget the masked pretext task stays at chance (measured:
   held-out pretext top1 11.6 % after 600 steps, loss ln 9) and fine-tuning from it is no better than
   random init, while the unmasked one leaves its plateau after ~150 steps (97.7 % after 600);
3. **fine-tuning**: ``vidstruct train`` (:func:`vidstruct.recipes.recognition.run_training`) of the same
   network in four arms (``--arms``), with the **same config** otherwise (steps, batch, AdamW 3e-3 with
   warmup + cosine, weight decay, augmentation, seed), for every seed of ``--seeds``:

   - ``random``: random initialization, RGB stem (the setting that stays near chance at this budget);
   - ``random_diff``: random initialization, ``model.input_mode: diff`` (the stem sees frame differences, the
     best from-scratch setting the project knows: ``configs/recognition/synth_r2plus1d_tiny.yaml``), the
     **strongest baseline**;
   - ``mosi``: ``model.init_from=<MoSI model.pt>`` (pretext head dropped, classifier re-initialized), RGB stem
     (MoSI pretrains on RGB clips);
   - ``mosi_diff``: the same MoSI weights fine-tuned with ``input_mode: diff``. ``diff`` adds no parameter and
     keeps 3 stem input channels (``d_t = x_t - x_{t-1}``), so the RGB-pretrained weights load with the same
     shapes; the stem then sees another input distribution than it was pretrained on.

   The seed sets the fine-tuning data order, the random initialization of the random arms and the new
   classifier of the MoSI arms; MoSI is pretrained once (``--pretrain-seed``), so the spread is that of
   fine-tuning only.

Printed: pretext accuracy, a per-seed table of held-out top-1 for every arm, mean ± sample standard
deviation over seeds, MoSI's paired gain (per seed, then mean ± sd) against **both** random-init arms, with
wins out of N seeds, and the recall of the four translation classes (move_*), the ones MoSI's pseudo-motions
resemble most.

Full run (default): 500 videos (100 held out), 600 MoSI steps, 400 fine-tuning steps, 5 seeds x 4 arms.
Measured with ``--threads 1`` on a 2-core machine shared with other jobs (load 3-14): pretraining
10 min, each fine-tuning run 2-15 min depending on the load; ``--seeds 0,1,2`` keeps the full budget with
3 seeds. ``--quick``: 300 videos (60 held out), 400 MoSI steps, 250
fine-tuning steps, 3 seeds (same protocol, smaller budget, larger spread).
Threads: ``--threads`` (default: all cores; on a shared, oversubscribed machine ``--threads 1``
is several times faster). ``--reuse``: keep the pretraining and the fine-tuning runs already in
``--workdir`` whose ``final.pt`` holds exactly this run's config (so an interrupted benchmark
continues; held-out accuracy is always re-measured from the run's ``model.pt``).

Usage: ``python benchmarks/mosi_gain.py [--quick] [--seeds 0,1,2] [--arms random,random_diff,mosi,mosi_diff]
[--static-mask] [--workdir DIR] [--reuse] [--json]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
MOVES = ("move_left", "move_right", "move_up", "move_down")
SIZE, FPS, DURATION = 64, 10.0, 2.0  # synthetic videos
CLIP_LEN, FRAME_INTERVAL, SHORT_SIDE, CROP = 8, 2, 36, 32  # fine-tuning clips (MoSI clips: 8 frames, 32 px)
WIDTHS = [8, 16, 32, 64]
FT_LR, FT_BATCH, PRE_LR, PRE_IMAGES_PER_STEP = 3e-3, 8, 3e-3, 4
# fine-tuning arms: name -> (initialized from MoSI, model.input_mode); the run folder is ft_{name}_seed{seed}
ARMS: dict[str, tuple[bool, str]] = {
    "random": (False, "rgb"),
    "random_diff": (False, "diff"),
    "mosi": (True, "rgb"),
    "mosi_diff": (True, "diff"),
}
BASELINES = ("random", "random_diff")  # random-init arms MoSI is compared with


@dataclass(frozen=True)
class Budget:
    """Sizes of one benchmark mode (see the module doc)."""

    num_videos: int  # synthetic classify videos generated (~80 % train list, ~20 % held-out val)
    per_class: int  # training videos per class used for fine-tuning
    pretrain_steps: int  # MoSI optimizer steps (4 images = 36 clips each)
    pretrain_images: int  # procedural images in the pretraining pool
    finetune_steps: int  # fine-tuning optimizer steps (both arms)
    seeds: tuple[int, ...]


FULL = Budget(500, per_class=6, pretrain_steps=600, pretrain_images=4000, finetune_steps=400, seeds=(0, 1, 2, 3, 4))
QUICK = Budget(300, per_class=6, pretrain_steps=400, pretrain_images=4000, finetune_steps=250, seeds=(0, 1, 2))


def pretrain_config(budget: Budget, seed: int, static_mask: bool = False) -> dict[str, Any]:
    """The MoSI pretraining config (what ``vidstruct pretrain-mosi`` validates)."""
    return {
        "model": {"name": "r2plus1d_tiny", "widths": WIDTHS, "dropout": 0.5},
        "data": {"transform": {"short_side": SHORT_SIDE, "crop_size": CROP}, "num_workers": 0},
        "optim": {"name": "adamw", "lr": PRE_LR, "weight_decay": 0.05, "warmup_steps": 20, "min_lr": 1e-5},
        "train": {"max_steps": budget.pretrain_steps, "batch_size": PRE_IMAGES_PER_STEP, "seed": seed,
                  "device": "cpu", "ckpt_every": budget.pretrain_steps, "log_every": 25, "tensorboard": False},
        "test": {"batch_size": 18},
        "mosi": {
            "num_frames": CLIP_LEN, "crop_size": CROP, "short_side": [40, 48], "label_mode": "joint",
            "static_mask": static_mask, "mask_ratio": [0.3, 0.5], "head_dropout": 0.0,
            "source": {"kind": "procedural", "count": budget.pretrain_images, "size": 64, "seed": seed},
            "val_source": {"kind": "procedural", "count": 24, "size": 64, "seed": 10_000 + seed},
        },
    }  # fmt: skip


def finetune_config(
    synth: Path, train_list: Path, budget: Budget, seed: int, init_from: Path | None, input_mode: str = "rgb"
) -> dict[str, Any]:
    """The fine-tuning config (what ``vidstruct train`` validates): identical for every arm but ``model.init_from``
    and ``model.input_mode``."""
    return {
        "model": {"name": "r2plus1d_tiny", "widths": WIDTHS, "dropout": 0.5, "input_mode": input_mode,
                  "init_from": str(init_from) if init_from else None},
        "data": {
            "train": {"format": "kinetics", "annotations": str(train_list)},
            "val": {"format": "kinetics", "annotations": str(synth / "val.txt")},
            "classes": str(synth / "classes.txt"),
            "sampler": {"clip_len": CLIP_LEN, "frame_interval": FRAME_INTERVAL},
            "transform": {"short_side": SHORT_SIDE, "crop_size": CROP},
            "num_workers": 0,
        },
        "optim": {"name": "adamw", "lr": FT_LR, "weight_decay": 0.05, "warmup_steps": 20, "min_lr": 1e-5},
        "train": {"max_steps": budget.finetune_steps, "batch_size": FT_BATCH, "seed": seed, "device": "cpu",
                  "ckpt_every": budget.finetune_steps, "log_every": 25, "tensorboard": False},
        "test": {"batch_size": 16},
    }  # fmt: skip


def make_data(workdir: Path, budget: Budget) -> tuple[Path, Path]:
    """Synthetic videos (reused when present) and the data-limited training list."""
    from vidstruct.data.synth import generate

    synth = workdir / f"synth_{budget.num_videos}"
    if not (synth / "classes.txt").is_file():
        generate("classify", synth, budget.num_videos, seed=0, size=SIZE, fps=FPS, duration=DURATION)
    taken: dict[str, int] = {}
    subset = []
    for line in filter(None, (synth / "train.txt").read_text().splitlines()):
        label = line.rsplit(" ", 1)[1]
        if taken.get(label, 0) < budget.per_class:
            taken[label] = taken.get(label, 0) + 1
            subset.append(line)
    train_list = synth / f"train_{budget.per_class}_per_class.txt"
    text = "\n".join(subset) + "\n"
    if not train_list.is_file() or train_list.read_text() != text:  # unchanged: leave it (runs may be reading it)
        train_list.write_text(text)
    return synth, train_list


def _validate(cfg: dict[str, Any], schema: Any) -> Any:
    from vidstruct.config import validate
    from vidstruct.config.loader import ComposedConfig

    return validate(schema, ComposedConfig(cfg))


def _finished_with(run_dir: Path, cfg: Any) -> bool:
    """``run_dir`` holds a finished run (``final.pt`` and ``model.pt``) of exactly the config ``cfg`` (the stored
    config is validated again, so that keys added to the schema since compare by their defaults)."""
    from vidstruct.errors import VidstructError

    if not ((run_dir / "final.pt").is_file() and (run_dir / "model.pt").is_file()):
        return False
    try:
        stored = _validate(torch.load(run_dir / "final.pt", weights_only=True)["config"], type(cfg))
    except (KeyError, VidstructError):
        return False
    return stored.model_dump(mode="json") == cfg.model_dump(mode="json")


def pretrain(
    workdir: Path, budget: Budget, seed: int, static_mask: bool, reuse: bool = False
) -> tuple[Path, dict[str, float], float | None]:
    """MoSI-pretrain once; returns ``(model.pt, pretext metrics, seconds)`` (``None`` seconds: reused)."""
    from vidstruct.config.mosi import MoSIExperimentConfig
    from vidstruct.recipes.mosi import run_pretraining

    run_dir = workdir / f"mosi_seed{seed}_{budget.pretrain_steps}{'_mask' if static_mask else ''}"
    cfg = _validate(pretrain_config(budget, seed, static_mask), MoSIExperimentConfig)
    if reuse and _finished_with(run_dir, cfg):
        return run_dir / "model.pt", torch.load(run_dir / "model.pt", weights_only=True)["source"]["metrics"], None
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    result = run_pretraining(cfg, run_dir, quiet=True)
    return run_dir / "model.pt", result.metrics, time.perf_counter() - start


def finetune(
    workdir: Path,
    synth: Path,
    train_list: Path,
    budget: Budget,
    seed: int,
    arm: str,
    mosi_model: Path,
    reuse: bool = False,
) -> dict[str, Any]:
    """One fine-tuning run of ``arm`` (a key of :data:`ARMS`); returns held-out top1, mean class accuracy, move_*
    recall and seconds (``None``: the finished run of the same config was reused, only its held-out accuracy
    re-measured)."""
    from vidstruct.config import ExperimentConfig
    from vidstruct.recipes.recognition import run_test, run_training

    from_mosi, input_mode = ARMS[arm]
    run_dir = workdir / f"ft_{arm}_seed{seed}"
    init_from = mosi_model if from_mosi else None
    cfg = _validate(finetune_config(synth, train_list, budget, seed, init_from, input_mode), ExperimentConfig)
    seconds = None
    if not (reuse and _finished_with(run_dir, cfg)):
        shutil.rmtree(run_dir, ignore_errors=True)
        torch.manual_seed(seed)  # as the recipe does: random init (random arms) / new classifier (MoSI arms)
        start = time.perf_counter()
        run_training(cfg, run_dir, quiet=True)
        seconds = time.perf_counter() - start
    report = run_test(cfg, run_dir / "model.pt", split="val")
    recall = {r["name"]: r["recall"] for r in report["per_class"]}
    return {
        "arm": arm,
        "seed": seed,
        "top1": report["metrics"]["top1"],
        "mean_class_accuracy": report["metrics"]["mean_class_accuracy"],
        "move_recall": statistics.fmean(recall[m] for m in MOVES),
        "seconds": seconds,
    }


def _secs(seconds: float | None) -> str:
    return "reused from --workdir" if seconds is None else f"{seconds:.0f} s"


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    return f"{100 * statistics.fmean(values):.1f} ± {100 * sd:.1f}"


def report(runs: list[dict[str, Any]], pretext: dict[str, float], seeds: tuple[int, ...], arms: list[str]) -> str:
    """Markdown tables: per-seed held-out top-1 of every arm, means ± sd, and MoSI's paired gains (per seed, mean ±
    sd, wins out of N) against the random-init arm with the same stem and against ``random_diff``."""
    by = {(r["arm"], r["seed"]): r for r in runs}
    mosi_arms = [a for a in arms if ARMS[a][0]]
    # every MoSI arm against the random-init arm with its stem, and every MoSI arm against the strongest baseline
    pairs = [(m, b) for m in mosi_arms for b in BASELINES if b in arms and (b == "random_diff" or ARMS[m][1] == "rgb")]
    lines = [
        f"MoSI pretext accuracy on held-out images: top1 {100 * pretext.get('top1', math.nan):.1f} % (chance 11.1 %)",
        "",
        "| seed | " + " | ".join(f"{a} top1 %" for a in arms) + "".join(f" | {m} - {b} (pts)" for m, b in pairs) + " |",
        "|---:|" + "---:|" * (len(arms) + len(pairs)),
    ]
    for s in seeds:
        cells = [f"{100 * by[(a, s)]['top1']:.1f}" for a in arms]
        cells += [f"{100 * (by[(m, s)]['top1'] - by[(b, s)]['top1']):+.1f}" for m, b in pairs]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "| metric (mean ± sd over seeds, %) | " + " | ".join(arms) + " |"]
    lines.append("|---|" + "---:|" * len(arms))
    metrics = {"top1": "held-out top1", "mean_class_accuracy": "mean class accuracy", "move_recall": "move_* recall"}
    for key, name in metrics.items():
        lines.append(f"| {name} | " + " | ".join(_mean_sd([by[(a, s)][key] for s in seeds]) for a in arms) + " |")
    if pairs:
        lines += ["", "| paired gain (pts, mean ± sd over seeds) | held-out top1 | move_* recall | wins (top1) |"]
        lines.append("|---|---:|---:|---:|")
    for m, b in pairs:
        gains = {k: [by[(m, s)][k] - by[(b, s)][k] for s in seeds] for k in ("top1", "move_recall")}
        wins = sum(g > 0 for g in gains["top1"])
        ratio = statistics.fmean(by[(m, s)]["top1"] for s in seeds) / max(
            statistics.fmean(by[(b, s)]["top1"] for s in seeds), 1e-9
        )
        lines.append(
            f"| {m} - {b} | {_mean_sd(gains['top1'])} | {_mean_sd(gains['move_recall'])} | "
            f"{wins} of {len(seeds)} (mean top1 ratio {ratio:.2f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, shorter pretraining and fine-tuning")
    parser.add_argument("--seeds", help="comma-separated fine-tuning seeds (default: 0-4, quick: 0-2)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated fine-tuning arms of {', '.join(ARMS)}")
    parser.add_argument("--pretrain-seed", type=int, default=0)
    parser.add_argument("--pretrain-steps", type=int, help="override the mode's MoSI steps")
    parser.add_argument("--finetune-steps", type=int, help="override the mode's fine-tuning steps")
    parser.add_argument("--per-class", type=int, help="override the training videos per class")
    parser.add_argument("--static-mask", action="store_true", help="pretrain with the static mask (ratio 0.3-0.5)")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--workdir", default=str(ROOT / "bench_out" / "mosi_gain"))
    parser.add_argument("--reuse", action="store_true", help="keep finished runs of the same config in --workdir")
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    args = parser.parse_args(argv)
    overrides = {
        "seeds": tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None,
        "pretrain_steps": args.pretrain_steps,
        "finetune_steps": args.finetune_steps,
        "per_class": args.per_class,
    }
    budget = QUICK if args.quick else FULL
    budget = Budget(**{**asdict(budget), **{k: v for k, v in overrides.items() if v is not None}})
    arms = [a for a in ARMS if a in args.arms.split(",")]  # in ARMS order
    unknown = set(args.arms.split(",")) - set(ARMS)
    if unknown or not arms:
        parser.error(f"--arms: expected some of {', '.join(ARMS)}, got {args.arms!r}")
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    synth, train_list = make_data(workdir, budget)
    n_train = len(train_list.read_text().splitlines())
    n_val = len((synth / "val.txt").read_text().splitlines())
    print(f"data: {n_train} training videos ({budget.per_class}/class), {n_val} held-out videos "
          f"[{time.perf_counter() - start:.0f} s]", flush=True)  # fmt: skip
    mosi_model, pretext, pre_s = pretrain(workdir, budget, args.pretrain_seed, args.static_mask, args.reuse)
    print(f"MoSI pretraining: {budget.pretrain_steps} steps x {PRE_IMAGES_PER_STEP} images x 9 clips, "
          f"static mask {'on' if args.static_mask else 'off'}, {_secs(pre_s)}; "
          f"pretext {json.dumps({k: round(v, 3) for k, v in pretext.items()})}", flush=True)  # fmt: skip
    runs = []
    for seed in budget.seeds:
        for arm in arms:
            run = finetune(workdir, synth, train_list, budget, seed, arm, mosi_model, args.reuse)
            runs.append(run)
            print(f"  seed {seed} {run['arm']:>11}: top1 {100 * run['top1']:.1f} %  move_* recall "
                  f"{100 * run['move_recall']:.1f} %  ({_secs(run['seconds'])})", flush=True)  # fmt: skip
    print()
    mode = " (quick mode)" if args.quick else ""
    print(f"Fine-tuning (every arm): {budget.finetune_steps} steps x {FT_BATCH} clips ({CLIP_LEN} frames, {CROP} px), "
          f"AdamW {FT_LR:g} warmup + cosine; {len(budget.seeds)} seeds{mode}\n")  # fmt: skip
    print(report(runs, pretext, budget.seeds, arms))
    print(f"\ntotal {time.perf_counter() - start:.0f} s on {torch.get_num_threads()} thread(s)")
    if args.json:
        print(json.dumps({"budget": asdict(budget), "pretext": pretext, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
