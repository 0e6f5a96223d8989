"""Learning evidence for EPIC-Kitchens-100-style action detection (challenge C2) on held-out synthetic videos, CPU.

One command runs the chain with the ``vidstruct`` CLI (each command printed with its wall time):

1. ``vidstruct synth --task epic``: untrimmed 15 s videos of 64 px at 15 fps; the 4th video of each participant
   and every video of the unseen participants (P05, P10, ...) held out (``EPIC_100_validation.csv``);
2. the verb + noun backbone: ``vidstruct train configs/recognition/synth_epic_tiny.yaml`` (``--backbone-steps``);
3. ``vidstruct extract-features``: snippets of 0.8 s every 0.2 s of every video;
4. proposals: ``vidstruct train configs/localization/synth_epic_bmn_relation.yaml`` (BMN + relation encoding,
   class-agnostic, on the training CSV's segments; ``--loc-steps``; ``train.seed`` = the seed);
5. ``vidstruct detect-epic`` on the held-out videos (top 5 verbs x 5 nouns per proposal, score = proposal score x
   p(verb) x p(noun)) and ``vidstruct eval epic-detection``: verb / noun / action mAP at tIoU 0.1:0.1:0.5 and the
   average.

Per seed of ``--seeds`` (the seed of both the backbone and the localizer) the real chain runs, plus a diagnostic
row: the held-out ground-truth segments themselves as proposals (score 1) labelled by the same backbone (what the
classification alone reaches with perfect proposals). Once (seed 0) a
control runs the same chain on a copy of the training CSV whose (verb, noun) labels are permuted among the training
segments (same boundaries, so the proposals can still be learned: it isolates the labels' contribution). A stage
whose output exists is reused; delete ``--work`` to start over. Set ``OMP_NUM_THREADS=1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from epic_learning import read_rows, shuffled_copy

ROOT = Path(__file__).resolve().parents[1]
BACKBONE = ROOT / "configs/recognition/synth_epic_tiny.yaml"
LOCALIZER = ROOT / "configs/localization/synth_epic_bmn_relation.yaml"
TASKS = ("verb", "noun", "action")


def run(cmd: list[str]) -> str:
    """Run a vidstruct command, print it with its wall time, return its stdout (fail loudly)."""
    shown = " ".join(shlex.quote(c) for c in cmd)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vidstruct", *cmd], capture_output=True, text=True, cwd=ROOT)
    print(f"$ vidstruct {shown}   [{time.perf_counter() - start:.0f} s]", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def chain(data: Path, work: Path, seed: int, backbone_steps: int, loc_steps: int) -> dict:
    """The five stages of the module doc for one dataset copy and seed; the ``eval epic-detection`` JSON."""
    report = work / "eval.json"
    if report.is_file():
        return json.loads(report.read_text())
    bb, feats, loc = work / "backbone", work / "features", work / "localizer"
    if not (bb / "model.pt").is_file():
        run([
            "train", str(BACKBONE), f"data.train.annotations={data / 'EPIC_100_train.csv'}",
            f"data.val.annotations={data / 'EPIC_100_validation.csv'}",
            f"data.verb_classes={data / 'EPIC_100_verb_classes.csv'}",
            f"data.noun_classes={data / 'EPIC_100_noun_classes.csv'}", f"train.seed={seed}",
            f"train.max_steps={backbone_steps}", f"train.ckpt_every={backbone_steps}", "--run-dir", str(bb), "--quiet",
        ])  # fmt: skip
    videos = work / "videos.txt"
    if not videos.is_file():
        videos.write_text("".join(f"{p.resolve()}\n" for p in sorted(data.glob("P*/videos/*.MP4"))))
    run(["extract-features", "--checkpoint", str(bb), "--videos", str(videos), "--out", str(feats), "--window-s",
         "0.8", "--stride-s", "0.2", "--device", "cpu", "--quiet"])  # fmt: skip
    if not (loc / "localizer.pt").is_file():
        run([
            "train", str(LOCALIZER), f"data.features={feats}", f"data.classes={data / 'EPIC_100_verb_classes.csv'}",
            f"data.train.annotations={data / 'EPIC_100_train.csv'}",
            f"data.val.annotations={data / 'EPIC_100_validation.csv'}", f"train.seed={seed}",
            f"train.max_steps={loc_steps}", f"train.ckpt_every={loc_steps}", "train.device=cpu",
            "train.tensorboard=false", "--run-dir", str(loc), "--quiet",
        ])  # fmt: skip
    val = data / "EPIC_100_validation.csv"
    sub = work / "submission.json"
    run(["detect-epic", "--checkpoint", str(loc), "--features", str(feats), "--labels", str(val), "--out", str(sub),
         "--quiet"])  # fmt: skip
    out = run(["eval", "epic-detection", str(val), str(sub), "--verb-count", "6", "--noun-count", "5", "--json",
               "--out", str(report)])  # fmt: skip
    return json.loads(out)


def gt_proposals(data: Path, work: Path) -> dict:
    """The held-out ground-truth segments as proposals (score 1), labelled from the run's backbone, evaluated."""
    from vidstruct.data.features import FeatureStore
    from vidstruct.eval.epic import evaluate_epic_detection, load_detection_submission, load_epic_labels
    from vidstruct.eval.epic.detection import write_detection_submission
    from vidstruct.pipeline.epic_detection import EpicDetector, proposal_entries, snippet_verb_noun_probs

    labels = load_epic_labels(data / "EPIC_100_validation.csv", num_verbs=6, num_nouns=5)
    backbone = EpicDetector.from_checkpoint(work / "localizer").backbone
    store = FeatureStore(work / "features")
    results = {}
    for vid in dict.fromkeys(labels.video_ids):
        rows = [i for i, v in enumerate(labels.video_ids) if v == vid]
        props = [(labels.start_s[i], labels.stop_s[i], 1.0) for i in rows]
        feats = store.load(vid)
        verb, noun = snippet_verb_noun_probs(backbone, feats.features)
        results[vid] = proposal_entries(props, verb, noun, feats.centers_s)
    path = write_detection_submission(work / "gt_proposals.json", results, sls=(0, 0, 0))
    return evaluate_epic_detection(labels, load_detection_submission(path, num_verbs=6, num_nouns=5), num_nouns=5)


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:5.1f}"
    return f"{100 * statistics.mean(values):5.1f} ± {100 * statistics.stdev(values):4.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out" / "epic_detection")
    parser.add_argument("--seeds", default="0", help="seeds of backbone + localizer (comma separated)")
    parser.add_argument("--videos", type=int, default=40, help="synthetic videos (4 per participant)")
    parser.add_argument("--backbone-steps", type=int, default=300, help="backbone train.max_steps")
    parser.add_argument("--loc-steps", type=int, default=200, help="localizer train.max_steps")
    parser.add_argument("--no-control", action="store_true", help="skip the label-shuffled control")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    work = args.work.resolve()
    data = work / "data"
    start = time.perf_counter()
    if not (data / "EPIC_100_validation.csv").is_file():
        run(["synth", "--task", "epic", "--out", str(data), "--num-videos", str(args.videos), "--size", "64",
             "--fps", "15", "--duration", "15", "--quiet"])  # fmt: skip
    _, train_rows = read_rows(data / "EPIC_100_train.csv")
    _, val_rows = read_rows(data / "EPIC_100_validation.csv")
    steps = (args.backbone_steps, args.loc_steps)
    results = {f"seed {s}": chain(data, work / f"seed{s}", s, *steps) for s in seeds}
    diagnostic = {f"seed {s}: ground-truth segments as proposals": gt_proposals(data, work / f"seed{s}") for s in seeds}
    if not args.no_control:
        shuffled = shuffled_copy(data, work / "shuffled_data")
        results["shuffled labels (control, seed 0)"] = chain(shuffled, work / "shuffled", 0, *steps)
    results.update(diagnostic)
    total = time.perf_counter() - start

    n_val = len({r["video_id"] for r in val_rows})
    print(f"\nEPIC-style action detection: {len(train_rows)} training segments; {len(val_rows)} held-out segments in "
          f"{n_val} held-out videos; backbone {args.backbone_steps} steps, BMN + relation {args.loc_steps} steps; "
          "average mAP over tIoU 0.1:0.1:0.5 and mAP@0.5, in %")  # fmt: skip
    print("| run | verb avg mAP | noun avg mAP | action avg mAP | action mAP@0.1 | action mAP@0.5 |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {name: [r[t]["average_mAP"] for t in TASKS] + [r["action"]["mAP"][0], r["action"]["mAP"][-1]]
            for name, r in results.items()}  # fmt: skip
    for name, vals in rows.items():
        print(f"| {name} | " + " | ".join(fmt([v]) for v in vals) + " |")
    real = [v for k, v in rows.items() if k.startswith("seed") and ":" not in k]
    if len(real) > 1:
        print(f"| mean ± sd ({len(real)} seeds) | " + " | ".join(fmt(list(c)) for c in zip(*real)) + " |")
    print(f"\nwall time {total / 60:.1f} min (stages reused from earlier runs are not counted)")


if __name__ == "__main__":
    main()
