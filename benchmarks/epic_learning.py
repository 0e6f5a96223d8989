"""Learning evidence for EPIC-Kitchens-100-style recognition (verb + noun heads on one backbone), on CPU.

One command runs the chain with the ``vidstruct`` CLI (each command is printed with its wall time):

1. ``vidstruct synth --task epic``: untrimmed 15 s videos of 64 px at 15 fps, 4 videos per participant, the
   4th video of each participant and every video of the unseen participants (P05, P10, ...) held out
   (``EPIC_100_validation.csv``);
2. ``vidstruct train configs/recognition/synth_epic_tiny.yaml`` once per seed of ``--seeds`` (``train.seed``:
   initial weights and data order), then ``vidstruct test --out``: verb / noun / action top-1 and top-5 on the
   held-out segments (2 temporal views), the C1 ``results.pkl`` and ``submission.json``;
3. a control: the same training on a copy of ``EPIC_100_train.csv`` whose (verb, noun) labels are permuted
   among the training segments (same videos, same class frequencies, no label signal), seed 0.

The table shows each seed, their mean ± sd, the control, and the majority-class rate of the held-out segments
(the accuracy of always answering the most frequent verb / noun / (verb, noun) pair: what "chance" means with
the long-tailed classes). A second table scores each run's ``results.pkl`` with ``vidstruct eval
epic-recognition`` (the C1 challenge's metrics): top-1 on the tail classes and on the unseen participants.
``--steps`` overrides ``train.max_steps``; ``--quick`` is a smoke run. Outputs go to
``--work`` (default ``bench_out/epic``); delete it to start over. Set ``OMP_NUM_THREADS`` on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs/recognition/synth_epic_tiny.yaml"
METRICS = ("verb_top1", "noun_top1", "action_top1", "verb_top5", "noun_top5", "action_top5")
C1_METRICS = tuple(f"{s}_{t}_accuracy_at_1" for s in ("tail", "unseen") for t in ("verb", "noun", "action"))
LABEL_COLUMNS = ("verb", "verb_class", "noun", "noun_class", "all_nouns", "all_noun_classes", "narration")


def run(cmd: list[str]) -> str:
    """Run a vidstruct command, print it with its wall time, return its stdout (fail loudly)."""
    shown = " ".join(shlex.quote(c) for c in cmd)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vidstruct", *cmd], capture_output=True, text=True, cwd=ROOT)
    print(f"$ vidstruct {shown}   [{time.perf_counter() - start:.0f} s]", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def shuffled_copy(data: Path, out: Path, seed: int = 0) -> Path:
    """``out``: ``data`` with the training segments' labels permuted (videos and other files linked)."""
    if (out / "EPIC_100_train.csv").is_file():
        return out
    out.mkdir(parents=True)
    header, rows = read_rows(data / "EPIC_100_train.csv")
    order = np.random.default_rng(seed).permutation(len(rows))
    with (out / "EPIC_100_train.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows({**row, **{c: rows[j][c] for c in LABEL_COLUMNS}} for row, j in zip(rows, order))
    for item in data.iterdir():
        if item.name != "EPIC_100_train.csv":
            (out / item.name).symlink_to(item.resolve())
    return out


def overrides(data: Path, seed: int, steps: int | None) -> list[str]:
    out = [
        f"data.train.annotations={data / 'EPIC_100_train.csv'}",
        f"data.val.annotations={data / 'EPIC_100_validation.csv'}",
        f"data.verb_classes={data / 'EPIC_100_verb_classes.csv'}",
        f"data.noun_classes={data / 'EPIC_100_noun_classes.csv'}",
        f"train.seed={seed}",
    ]
    return out + ([f"train.max_steps={steps}", f"train.ckpt_every={steps}"] if steps else [])


def train_and_test(data: Path, run_dir: Path, seed: int, steps: int | None) -> dict[str, float]:
    """Metrics of one training run (reused when its test report exists)."""
    report = run_dir / "test" / "metrics.json"
    if not report.is_file():
        args = overrides(data, seed, steps)
        if not (run_dir / "model.pt").is_file():
            run(["train", str(CONFIG), *args, "--run-dir", str(run_dir), "--quiet"])
        run(["test", str(CONFIG), *args, "--checkpoint", str(run_dir), "--out", str(run_dir / "test"), "--quiet"])
    return json.loads(report.read_text())["metrics"]


def c1_metrics(data: Path, run_dir: Path) -> dict[str, float]:
    """``vidstruct eval epic-recognition`` of a run's ``results.pkl`` (percent)."""
    out = run([
        "eval", "epic-recognition", str(data / "EPIC_100_validation.csv"), str(run_dir / "test" / "results.pkl"),
        "--tail-verbs", str(data / "EPIC_100_tail_verbs.csv"), "--tail-nouns", str(data / "EPIC_100_tail_nouns.csv"),
        "--unseen-participants", str(data / "EPIC_100_unseen_participant_ids_validation.csv"), "--json",
    ])  # fmt: skip
    return json.loads(out)


def majority(rows: list[dict[str, str]]) -> dict[str, float]:
    """Accuracy of always answering the most frequent verb, noun and (verb, noun) pair."""
    count = lambda key: Counter(key(r) for r in rows).most_common(1)[0][1] / len(rows)  # noqa: E731
    return {
        "verb_top1": count(lambda r: r["verb_class"]),
        "noun_top1": count(lambda r: r["noun_class"]),
        "action_top1": count(lambda r: (r["verb_class"], r["noun_class"])),
    }


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:5.1f}"
    return f"{100 * statistics.mean(values):5.1f} ± {100 * statistics.stdev(values):4.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out" / "epic")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (comma separated)")
    parser.add_argument("--videos", type=int, default=40, help="synthetic videos (4 per participant)")
    parser.add_argument("--steps", type=int, help="override train.max_steps of the config")
    parser.add_argument("--quick", action="store_true", help="12 videos, 20 steps, one seed (smoke run)")
    args = parser.parse_args()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    videos, steps = (12, 20) if args.quick else (args.videos, args.steps)
    work = args.work.resolve()
    data = work / "data"
    start = time.perf_counter()
    if not (data / "EPIC_100_validation.csv").is_file():
        run(["synth", "--task", "epic", "--out", str(data), "--num-videos", str(videos), "--size", "64",
             "--fps", "15", "--duration", "15", "--quiet"])  # fmt: skip
    _, train_rows = read_rows(data / "EPIC_100_train.csv")
    _, val_rows = read_rows(data / "EPIC_100_validation.csv")
    results = {seed: train_and_test(data, work / f"seed{seed}", seed, steps) for seed in seeds}
    control = train_and_test(shuffled_copy(data, work / "shuffled"), work / "shuffled_run", 0, steps)
    base = majority(val_rows)
    c1 = {f"seed {seed}": c1_metrics(data, work / f"seed{seed}") for seed in seeds}
    c1["shuffled labels (control)"] = c1_metrics(data, work / "shuffled_run")
    total = time.perf_counter() - start

    budget = f" (max_steps {steps})" if steps else ""
    print(f"\nEPIC-style recognition, {len(train_rows)} training / {len(val_rows)} held-out segments, "
          f"config {CONFIG.relative_to(ROOT)}{budget}; top-1 / top-5 in %")  # fmt: skip
    print(f"| run | {' | '.join(METRICS)} |")
    print("|---|" + "---:|" * len(METRICS))
    for seed, m in results.items():
        print(f"| seed {seed} | " + " | ".join(fmt([m[k]]) for k in METRICS) + " |")
    if len(results) > 1:
        print(f"| mean ± sd ({len(results)} seeds) | "
              + " | ".join(fmt([m[k] for m in results.values()]) for k in METRICS) + " |")  # fmt: skip
    print("| shuffled labels (control) | " + " | ".join(fmt([control[k]]) for k in METRICS) + " |")
    print("| majority class (held-out) | "
          + " | ".join(fmt([base[k]]) if k in base else "-" for k in METRICS) + " |")  # fmt: skip
    print("\nC1 metrics of the same runs (vidstruct eval epic-recognition), top-1 in %")
    print(f"| run | {' | '.join(C1_METRICS)} |")
    print("|---|" + "---:|" * len(C1_METRICS))
    for name, m in c1.items():
        print(f"| {name} | " + " | ".join(f"{m[k]:5.1f}" if k in m else "-" for k in C1_METRICS) + " |")
    counts = next(iter(c1.values()))
    print(f"({counts.get('num_tail_action_segments', 0)} segments of a tail verb or noun, "
          f"{counts.get('num_unseen_segments', 0)} of unseen participants)")  # fmt: skip
    print(f"\nwall time {total / 60:.1f} min (stages reused from earlier runs are not counted)")


if __name__ == "__main__":
    main()
