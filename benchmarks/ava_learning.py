"""Learning evidence for spatio-temporal action detection: plain RoI head vs the relation model, several seeds.

1. ``vidstruct synth --task detect`` (``--num-videos`` videos, ``--size`` px, ``--duration`` s; ~80/20 split):
   two or three actors per video, 1 Hz keyframes, 14 classes of which 4 are interactions (approach, pass_by,
   give_object, receive_object) that a lone actor's motion does not tell from individual movements;
   With ``--train-videos N`` only the training split of the first ``N`` videos is trained on and every other
   video (the validation split of the first ``N`` and *all* of videos ``N...``) is held out: the training data stay
   those of an ``N``-video set (videos are generated per index, so they are the same videos) while the held-out
   set grows, which narrows the per-class AP's sampling noise (20 held-out videos hold ~4 of each interaction);
2. for each seed of ``--seeds`` (``train.seed``: initial weights and data order) and each head of ``--heads``,
   ``vidstruct train``'s recipe on ``configs/detection/synth_roi_tiny.yaml`` / ``synth_relation_tiny.yaml`` (same
   backbone, data, optimizer and steps; only the head differs) for ``--steps`` steps. Heads: ``roi`` (SlowFast's
   AVA head), ``relation`` (the relation module as configured: absolute box embeddings) and ``relation_rel``
   (the relation module with relative pair geometry: ``model.relation.geometry=relative``);
3. frame-mAP@0.5 on the held-out keyframes with ground-truth boxes (:func:`vidstruct.eval.spatiotemporal.evaluate_ava`,
   the official ActivityNet protocol), per class and averaged over the interaction / individual classes; an
   untrained model of each seed is the chance baseline.

Prints one row per (head, seed), then mean ± sd per head, per-class AP (mean and sd over seeds) with the held-out
box count of each class, and the gain of each relation head over RoI paired per seed (overall, interaction and
individual classes). ``--quick``: a smaller, faster run (a smoke test). Data and runs go to ``--work`` (default
``bench_out/ava``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: head → (config, extra overrides)
HEADS = {
    "roi": (ROOT / "configs/detection/synth_roi_tiny.yaml", []),
    "relation": (ROOT / "configs/detection/synth_relation_tiny.yaml", ["model.relation.geometry=absolute"]),
    "relation_rel": (ROOT / "configs/detection/synth_relation_tiny.yaml", ["model.relation.geometry=relative"]),
}
INTERACTIONS = ("approach", "pass_by", "give_object", "receive_object")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="bench_out/ava", help="data and run directory")
    p.add_argument("--num-videos", type=int, default=60)
    p.add_argument("--size", type=int, default=64, help="synthetic frame size, px")
    p.add_argument("--duration", type=float, default=4.0, help="seconds per synthetic video")
    p.add_argument(
        "--train-videos",
        type=int,
        help="train on the training split of the first N videos only; hold out every other video (default: all)",
    )
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--heads", default="roi,relation", help=f"comma-separated, of {', '.join(HEADS)}")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: no oversubscription on a shared machine)"
    )
    p.add_argument("--override", action="append", default=[], help="extra config override (key=value), repeatable")
    p.add_argument("--quick", action="store_true", help="20 videos, 30 steps, one seed")
    p.add_argument("--persons", help="a person-detector run (task: person-detection): also score with its boxes")
    p.add_argument("--person-min-score", type=float, default=0.3, help="person score a detected box needs")
    return p.parse_args(argv)


def ensure_data(work: Path, num_videos: int, size: int, duration: float) -> Path:
    from vidstruct.data.synth.detect import write_detect

    data = work / f"synth_detect_n{num_videos}_s{size}_d{duration:g}"
    if not (data / "val.csv").is_file():
        write_detect(data, num_videos=num_videos, seed=0, size=size, fps=25.0, duration=duration)
    return data


def split_files(data: Path, train_videos: int | None) -> tuple[Path, Path]:
    """``(train CSV, held-out CSV)``: the synth splits, or (``train_videos``) the training rows of videos
    ``< train_videos`` and every other row (written beside the data as ``train_first{N}.csv`` /
    ``heldout_first{N}.csv``)."""
    if train_videos is None:
        return data / "train.csv", data / "val.csv"
    from vidstruct.atomic import write_text_atomic

    train, held = data / f"train_first{train_videos}.csv", data / f"heldout_first{train_videos}.csv"
    rows = {name: (data / f"{name}.csv").read_text().splitlines() for name in ("train", "val")}

    def index(row: str) -> int:
        return int(row.split(",", 1)[0].rsplit("_", 1)[1])

    write_text_atomic(train, "".join(r + "\n" for r in rows["train"] if index(r) < train_videos))
    held_rows = rows["val"] + [r for r in rows["train"] if index(r) >= train_videos]
    write_text_atomic(held, "".join(r + "\n" for r in held_rows))
    return train, held


def box_counts(held_out: Path, data: Path) -> dict[str, int]:
    """Held-out boxes per class name (one box per actor and keyframe)."""
    from vidstruct.data.formats.ava import read_ava, read_ava_label_map

    labels = read_ava_label_map(str(data / "label_map.pbtxt"))
    counts: dict[str, int] = {}
    for row in read_ava(str(held_out), label_map=labels):
        name = labels[row.action_id].name
        counts[name] = counts.get(name, 0) + 1
    return counts


def train_one(
    head: str, seed: int, data: Path, run: Path, steps: int, extra: list[str], splits: tuple[Path, Path]
) -> dict[str, float]:
    """Train one head for ``steps`` (``steps == 0``: the untrained model) → validation metrics."""
    import torch

    from vidstruct.config import load_task_config
    from vidstruct.pipeline.detection.evaluate import evaluate_detector
    from vidstruct.recipes.detection import build_detector, detection_data, run_detection_training

    overrides = [
        f"data.videos={data / 'videos'}", f"data.label_map={data / 'label_map.pbtxt'}",
        f"data.train={splits[0]}", f"data.val={splits[1]}", f"train.seed={seed}",
        f"train.max_steps={max(steps, 1)}", "train.eval_every=0", f"train.ckpt_every={max(steps, 1)}",
        "train.tensorboard=false", *HEADS[head][1], *extra,
    ]  # fmt: skip
    task = load_task_config(HEADS[head][0], overrides, tasks=("detection",), command="ava_learning")
    if steps == 0:
        data_sets = detection_data(task.cfg)
        torch.manual_seed(seed)
        model, _ = build_detector(task.cfg, len(data_sets.classes), task.composed)
        return evaluate_detector(model, data_sets.val, data_sets.labels, batch_size=8)
    result_file = run / "metrics.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    result = run_detection_training(task.cfg, run, composed=task.composed, quiet=True)
    from vidstruct.atomic import write_json_atomic

    write_json_atomic(result_file, result.metrics)
    return result.metrics


def detected_person_records(data: Path, held_out: Path, persons: str, min_score: float) -> list:
    """Held-out keyframes with the person detector's boxes instead of the ground-truth ones."""
    from vidstruct.data.detection import KeyframeRecord, keyframe_records, resolve_videos
    from vidstruct.data.formats.ava import read_ava, read_ava_label_map
    from vidstruct.pipeline.persons import person_box_source

    gt = read_ava(str(held_out), label_map=read_ava_label_map(str(data / "label_map.pbtxt")))
    records = keyframe_records(gt, resolve_videos((r.video_id for r in gt), data / "videos"))
    source = person_box_source(detector=persons, min_score=min_score)
    out = []
    for path in dict.fromkeys(r.path for r in records):
        mine = [r for r in records if r.path == path]
        for r, kf in zip(mine, source.boxes_at(path, [r.time_s for r in mine])):
            n = len(kf)
            boxes = tuple(tuple(float(v) for v in b) for b in kf.boxes.tolist())
            out.append(KeyframeRecord(r.video_id, path, r.time_s, boxes, ((),) * n, (-1,) * n,
                                      tuple(float(x) for x in kf.scores.tolist())))  # fmt: skip
    return [r for r in out if r.boxes]


def detected_boxes_map(run: Path, data: Path, held_out: Path, records: list) -> float:
    """Frame-mAP@0.5 of ``run/detector.pt`` on the held-out keyframes scored on detected person boxes."""
    from vidstruct.data.detection import KeyframeClipDataset
    from vidstruct.data.formats.ava import read_ava, read_ava_label_map
    from vidstruct.eval.spatiotemporal import evaluate_ava
    from vidstruct.models.detection import load_detector
    from vidstruct.pipeline.detection.evaluate import predict_keyframes

    labels = read_ava_label_map(str(data / "label_map.pbtxt"))
    bundle = load_detector(run)
    prep = bundle.preprocessing
    ds = KeyframeClipDataset(
        records, bundle.class_ids, num_frames=prep["num_frames"], frame_interval=prep["frame_interval"],
        target_fps=prep["target_fps"], size=prep["size"], mean=prep["mean"], std=prep["std"],
    )  # fmt: skip
    dets = predict_keyframes(bundle.model, ds)
    return float(evaluate_ava(read_ava(str(held_out), label_map=labels), dets, labels).mAP)


def group(metrics: dict[str, float], names: tuple[str, ...], inside: bool) -> float:
    vals = [v for k, v in metrics.items() if k.startswith("AP/") and (k[3:] in names) == inside]
    return sum(vals) / len(vals) if vals else float("nan")


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:5.1f}"
    return f"{100 * statistics.mean(values):5.1f} ± {100 * statistics.stdev(values):4.1f}"


def sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.quick:
        args.num_videos, args.steps, args.seeds = 20, 30, "0"
    seeds = [int(s) for s in args.seeds.split(",")]
    heads = [h.strip() for h in args.heads.split(",")]
    unknown = [h for h in heads if h not in HEADS]
    if unknown or "roi" not in heads:
        raise SystemExit(f"--heads: {unknown or 'roi is needed'} (choose from {', '.join(HEADS)}; roi is the baseline)")
    work = Path(args.work)
    data = ensure_data(work, args.num_videos, args.size, args.duration)
    splits = split_files(data, args.train_videos)
    tag = "" if args.train_videos is None else f"_first{args.train_videos}"
    counts = box_counts(splits[1], data)
    n_inter = sum(counts.get(c, 0) for c in INTERACTIONS)
    print(f"data: {data} ({args.num_videos} videos, {args.size} px, {args.duration:g} s); train {splits[0].name}, "
          f"held out {splits[1].name} ({sum(counts.values())} boxes, {n_inter} of interaction classes); "
          f"{args.steps} steps; seeds {seeds}; torch threads {args.threads}")  # fmt: skip
    rows: dict[tuple[str, int], dict[str, float]] = {}
    for seed in seeds:
        rows[("untrained", seed)] = train_one("relation", seed, data, work / "none", 0, args.override, splits)
        for head in heads:
            t0 = time.perf_counter()
            run = work / f"{data.name}{tag}_{head}_seed{seed}_{args.steps}"
            rows[(head, seed)] = train_one(head, seed, data, run, args.steps, args.override, splits)
            print(f"  {head} seed {seed}: mAP {100 * rows[(head, seed)]['mAP']:.1f} ({time.perf_counter() - t0:.0f} s)")
            sys.stdout.flush()
    classes = sorted({k[3:] for m in rows.values() for k in m if k.startswith("AP/")})
    print("\nframe-mAP@0.5 on held-out keyframes, ground-truth boxes (%)")
    print(f"{'head':12s} {'seed':>4s} {'mAP':>6s} {'interactions':>12s} {'individual':>10s}")
    for (head, seed), m in rows.items():
        print(f"{head:12s} {seed:4d} {100 * m['mAP']:6.1f} {100 * group(m, INTERACTIONS, True):12.1f} "
              f"{100 * group(m, INTERACTIONS, False):10.1f}")  # fmt: skip
    print(
        f"\n{'head':12s} {'mAP':>13s} {'interactions':>13s} {'individual':>13s}   (mean ± sd over {len(seeds)} seeds)"
    )
    for head in ("untrained", *heads):
        ms = [rows[(head, s)] for s in seeds]
        print(f"{head:12s} {mean_sd([m['mAP'] for m in ms]):>13s} "
              f"{mean_sd([group(m, INTERACTIONS, True) for m in ms]):>13s} "
              f"{mean_sd([group(m, INTERACTIONS, False) for m in ms]):>13s}")  # fmt: skip
    print("\nper-class AP (%), mean (sd) over seeds; boxes: held-out boxes of the class")
    print(f"{'class':16s} {'boxes':>5s} " + " ".join(f"{h:>14s}" for h in heads))
    for name in classes:
        cells = []
        for head in heads:
            v = [100 * rows[(head, s)].get(f"AP/{name}", float("nan")) for s in seeds]
            cells.append(f"{statistics.mean(v):6.1f} ({sd(v):4.1f})")
        star = " *" if name in INTERACTIONS else ""
        print(f"{name:16s} {counts.get(name, 0):5d} " + " ".join(f"{c:>14s}" for c in cells) + star)
    if args.persons:
        records = detected_person_records(data, splits[1], args.persons, args.person_min_score)
        n_boxes = sum(len(r.boxes) for r in records)
        print(f"\nframe-mAP@0.5 (%) on held-out keyframes with detected person boxes ({args.persons}, score >= "
              f"{args.person_min_score}; {n_boxes} boxes on {len(records)} keyframes)")  # fmt: skip
        for head in heads:
            runs = [work / f"{data.name}{tag}_{head}_seed{s}_{args.steps}" for s in seeds]
            maps = [detected_boxes_map(run, data, splits[1], records) for run in runs]
            print(f"{head:12s} {mean_sd(maps):>13s}   per seed: {', '.join(f'{100 * m:.1f}' for m in maps)}")
    print(f"\ngain over roi, paired per seed (points; mean ± sd over {len(seeds)} seeds, seeds won; per seed)")
    for head in heads:
        if head == "roi":
            continue
        for what, pick in (("mAP", None), ("interactions", True), ("individual", False)):
            gains = [
                (rows[(head, s)]["mAP"] - rows[("roi", s)]["mAP"])
                if pick is None
                else group(rows[(head, s)], INTERACTIONS, pick) - group(rows[("roi", s)], INTERACTIONS, pick)
                for s in seeds
            ]
            print(f"{head:12s} {what:12s} {mean_sd(gains):>13s}  {sum(g > 0 for g in gains)} of {len(seeds)}   "
                  + ", ".join(f"{100 * g:+.1f}" for g in gains))  # fmt: skip
    print("(* interaction classes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
