"""EPIC-Kitchens-100 recognition (C1 ``evaluate.py`` protocol): golden numbers computed by hand."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from epic_eval_fixtures import write_column_csv, write_labels_csv

from vidstruct.cli.main import main
from vidstruct.data.formats.epic_kitchens import read_epic_tail_classes, read_epic_unseen_participants
from vidstruct.errors import AnnotationError
from vidstruct.eval.epic import evaluate_epic_recognition, load_epic_labels, load_recognition_results
from vidstruct.eval.epic.results import recognition_results_from

# 3 verbs, 3 nouns. S6 has a label but no result (not evaluated, as the official labels.loc[narration_ids]).
LABEL_ROWS = [
    ("S1", "P01", "P01_01", 1.0, 2.0, 0, 0),
    ("S2", "P01", "P01_01", 3.0, 4.0, 1, 2),
    ("S3", "P02", "P02_01", 1.0, 2.5, 2, 1),
    ("S4", "P02", "P02_01", 5.0, 6.0, 0, 2),
    ("S5", "P03", "P03_01", 0.0, 1.0, 1, 1),
    ("S6", "P03", "P03_01", 2.0, 3.0, 2, 2),
]
# Stored outputs are log-probabilities, so the official softmax gives these probabilities back.
P_VERB = [[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.3, 0.4, 0.3]]
P_NOUN = [[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.45, 0.35, 0.2], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]]
# By hand (target, then the top pairs of p_verb[v] * p_noun[n]):
# S1 (0,0): verb 0 ok, noun 0 ok, action top-1 (0,0)=.42 ok.
# S2 (1,2): verb top-1 is 0 (miss), noun 2 ok; pairs (0,2)=.35, (1,2)=.28 ... -> action@1 miss, @5 hit.
# S3 (2,1): verb 2 ok, noun top-1 is 0 (miss); pairs (2,0)=.225, (2,1)=.175 -> action@1 miss, @5 hit.
# S4 (0,2): verb top-1 is 1 (miss), noun 2 ok; pairs (1,2)=.24, (1,0)=(1,1)=.18, (2,2)=.12, (2,0)=(2,1)=.09,
#           (0,2)=.04 is 7th -> action@5 miss.
# S5 (1,1): verb 1 ok, noun top-1 is 2 (miss); pairs (1,2)=.24, (0,2)=(2,2)=.18, (1,0)=(1,1)=.08 -> @5 hit.
# With 3 classes, verb / noun top-5 is always right (k clamped to the class count, as the official [:, :5]).
EXPECTED_ALL = {
    "all_verb_accuracy_at_1": 60.0,  # S1 S3 S5
    "all_verb_accuracy_at_5": 100.0,
    "all_noun_accuracy_at_1": 60.0,  # S1 S2 S4
    "all_noun_accuracy_at_5": 100.0,
    "all_action_accuracy_at_1": 20.0,  # S1
    "all_action_accuracy_at_5": 80.0,  # S1 S2 S3 S5
}
# tail verbs {2}: S3 (verb ok) -> 100; tail nouns {0}: S1 (ok) -> 100;
# tail actions = tail verb OR tail noun: S1 (action ok), S3 (miss) -> 50.
EXPECTED_TAIL = {"tail_verb_accuracy_at_1": 100.0, "tail_noun_accuracy_at_1": 100.0, "tail_action_accuracy_at_1": 50.0}
# unseen participant P02: S3 (verb ok, noun miss, action miss), S4 (verb miss, noun ok, action miss).
EXPECTED_UNSEEN = {
    "unseen_verb_accuracy_at_1": 50.0,
    "unseen_noun_accuracy_at_1": 50.0,
    "unseen_action_accuracy_at_1": 0.0,
}


def _results_dict() -> dict:
    return {
        "verb_output": np.log(np.array(P_VERB, dtype=np.float32)),
        "noun_output": np.log(np.array(P_NOUN, dtype=np.float32)),
        "narration_id": np.array(["S1", "S2", "S3", "S4", "S5"]),
    }


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "labels": write_labels_csv(tmp_path / "EPIC_100_validation.csv", LABEL_ROWS),
        "tail_verbs": write_column_csv(tmp_path / "EPIC_100_tail_verbs.csv", "verb", [2]),
        "tail_nouns": write_column_csv(tmp_path / "EPIC_100_tail_nouns.csv", "noun", [0]),
        "unseen": write_column_csv(
            tmp_path / "EPIC_100_unseen_participant_ids_validation.csv", "participant_id", ["P02"]
        ),
        "pkl": tmp_path / "results.pkl",
    }
    paths["pkl"].write_bytes(pickle.dumps(_results_dict()))
    return paths


def test_golden_all_tail_unseen(files):
    labels = load_epic_labels(files["labels"], num_verbs=3, num_nouns=3)
    out = evaluate_epic_recognition(
        labels,
        load_recognition_results(files["pkl"]),
        tail_verbs=read_epic_tail_classes(str(files["tail_verbs"]), "verb"),
        tail_nouns=read_epic_tail_classes(str(files["tail_nouns"]), "noun"),
        unseen_participants=read_epic_unseen_participants(str(files["unseen"])),
    )
    metrics = {k: v for k, v in out.items() if not k.startswith("num_")}
    assert metrics == pytest.approx({**EXPECTED_ALL, **EXPECTED_TAIL, **EXPECTED_UNSEEN}, abs=1e-9)
    assert out["num_segments"] == 5 and out["num_labels_without_results"] == 1
    assert out["num_tail_action_segments"] == 2 and out["num_unseen_segments"] == 2


def test_all_containers_and_layouts_give_the_same_numbers(files, tmp_path):
    d = _results_dict()
    per_segment = [
        {"verb_output": d["verb_output"][i], "noun_output": d["noun_output"][i], "narration_id": f"S{i + 1}"}
        for i in range(5)
    ]
    torch.save(per_segment, tmp_path / "list.pt")  # numpy arrays inside a .pt, the official test.py layout
    torch.save({k: torch.as_tensor(v) if k != "narration_id" else list(v) for k, v in d.items()}, tmp_path / "t.pt")
    np.savez(tmp_path / "r.npz", **d)
    (tmp_path / "list.pkl").write_bytes(pickle.dumps(per_segment, protocol=2))
    labels = load_epic_labels(files["labels"], num_verbs=3, num_nouns=3)
    for name in ("list.pt", "t.pt", "r.npz", "list.pkl"):
        out = evaluate_epic_recognition(labels, load_recognition_results(tmp_path / name))
        assert {k: out[k] for k in EXPECTED_ALL} == pytest.approx(EXPECTED_ALL, abs=1e-9), name


def test_pickled_plain_table_labels(files, tmp_path):
    table = {
        "narration_id": [r[0] for r in LABEL_ROWS],
        "participant_id": [r[1] for r in LABEL_ROWS],
        "video_id": [r[2] for r in LABEL_ROWS],
        "start_timestamp": [f"00:00:{r[3]:05.2f}" for r in LABEL_ROWS],
        "stop_timestamp": [f"00:00:{r[4]:05.2f}" for r in LABEL_ROWS],
        "verb_class": np.array([r[5] for r in LABEL_ROWS]),
        "noun_class": np.array([r[6] for r in LABEL_ROWS]),
    }
    (tmp_path / "labels.pkl").write_bytes(pickle.dumps(table))
    labels = load_epic_labels(tmp_path / "labels.pkl", num_verbs=3, num_nouns=3)
    assert labels.start_s.tolist() == [1.0, 3.0, 1.0, 5.0, 0.0, 2.0]
    out = evaluate_epic_recognition(labels, load_recognition_results(files["pkl"]))
    assert {k: out[k] for k in EXPECTED_ALL} == pytest.approx(EXPECTED_ALL, abs=1e-9)


def test_stored_probabilities_are_softmaxed_like_the_official_script(files):
    # The official script applies softmax to whatever is stored, so stored probabilities p are ranked by
    # exp(p_verb) * exp(p_noun), i.e. by p_verb + p_noun. Verb p = [.05, .1, .85], noun p = [.05, .35, .6]:
    #   sums:     (2,2) 1.45, (2,1) 1.20, (2,0) .90, (1,2) .70, (0,2) .65 | (1,1) .45 ...  -> (0,2) is 5th
    #   products: (2,2) .51, (2,1) .2975, (1,2) .06, (2,0) .0425, (1,1) .035 | (0,2) .03 -> (0,2) is 6th
    # Target S4 = (verb 0, noun 2): action top-5 is a hit as the official script scores it.
    res = recognition_results_from(
        {"verb_output": [[0.05, 0.1, 0.85]], "noun_output": [[0.05, 0.35, 0.6]], "narration_id": ["S4"]}, "mem"
    )
    out = evaluate_epic_recognition(load_epic_labels(files["labels"], num_verbs=3, num_nouns=3), res)
    assert out["all_action_accuracy_at_5"] == 100.0
    assert out["all_action_accuracy_at_1"] == 0.0


def _official_action_top_k(verb: np.ndarray, noun: np.ndarray, k: int, top_n: int = 100) -> np.ndarray:
    """Independent transcription of C1 utils/scoring.compute_action_scores + ranking (per-row softmax, float64):
    top-100 verbs x top-100 nouns, products ranked, first k pairs as [N, k, 2]."""
    out = []
    for v, n in zip(verb, noun):
        tv = np.argsort(-v)[:top_n]
        tn = np.argsort(-n)[:top_n]
        pv = np.exp(v[tv] - v.max())
        pn = np.exp(n[tn] - n.max())
        prod = (pv / pv.sum())[:, None] * (pn / pn.sum())[None, :]
        order = np.argsort(-prod.ravel())[:k]
        out.append([(tv[i // len(tn)], tn[i % len(tn)]) for i in order])
    return np.array(out)


def test_top_100_cut_never_changes_top_5_with_many_classes(tmp_path):
    # The top-100 cut cannot be made to matter for top-1 / top-5 without ties (see recognition.py's docstring);
    # with 120 verbs and 150 nouns (more than 100 each) the reference that applies the cut agrees exactly.
    rng = np.random.default_rng(0)
    n, nv, nn = 40, 120, 150
    verb, noun = rng.normal(size=(n, nv)) * 3, rng.normal(size=(n, nn)) * 3
    top = _official_action_top_k(verb, noun, 5)
    targets = top[:, 0].copy()
    targets[::3] = top[::3, 4]  # some hit only at rank 5
    targets[1::5] = [(rng.integers(nv), rng.integers(nn)) for _ in range(len(targets[1::5]))]
    rows = [(f"N{i}", "P01", "P01_01", 0.0, 1.0, int(t[0]), int(t[1])) for i, t in enumerate(targets)]
    labels = load_epic_labels(write_labels_csv(tmp_path / "l.csv", rows), num_verbs=nv, num_nouns=nn)
    res = recognition_results_from(
        {"verb_output": verb, "noun_output": noun, "narration_id": [f"N{i}" for i in range(n)]}, "mem"
    )
    out = evaluate_epic_recognition(labels, res)
    hit = (top == targets[:, None, :]).all(axis=2)
    assert out["all_action_accuracy_at_1"] == pytest.approx(100 * hit[:, 0].mean(), abs=1e-9)
    assert out["all_action_accuracy_at_5"] == pytest.approx(100 * hit.any(axis=1).mean(), abs=1e-9)
    assert 0 < out["all_action_accuracy_at_1"] < out["all_action_accuracy_at_5"] < 100


def test_cli_json_and_text(files, capsys, tmp_path):
    args = [
        "eval",
        "epic-recognition",
        str(files["labels"]),
        str(files["pkl"]),
        "--tail-verbs",
        str(files["tail_verbs"]),
        "--tail-nouns",
        str(files["tail_nouns"]),
        "--unseen-participants",
        str(files["unseen"]),
    ]
    assert main(args + ["--json", "--out", str(tmp_path / "m.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "m.json").read_text())
    assert {k: printed[k] for k in EXPECTED_ALL} == pytest.approx(EXPECTED_ALL, abs=1e-9)
    assert printed["unseen_noun_accuracy_at_1"] == pytest.approx(50.0)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "all_action_accuracy_at_5: 80.00" in text and "tail_action_accuracy_at_1: 50.00" in text


def test_cli_without_tail_or_unseen_prints_only_all(files, capsys):
    assert main(["eval", "epic-recognition", str(files["labels"]), str(files["pkl"]), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [k for k in printed if not k.startswith("num_")] == list(EXPECTED_ALL)


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"verb_output": [[0.1, 0.2, 0.7]], "narration_id": ["S1"]}, "missing key.*noun_output"),
        (
            {"verb_output": [[0.1, 0.2, 0.7]], "noun_output": [[1.0, 0, 0]], "narration_id": ["S9"]},
            "narration id 'S9'.*not in the labels",
        ),
        (
            {"verb_output": [[0.1, 0.2]] * 2, "noun_output": [[1.0, 0, 0]] * 2, "narration_id": ["S1", "S1"]},
            "duplicate narration id 'S1'",
        ),
        (
            {"verb_output": [[0.1, 0.2]], "noun_output": [[1.0, 0, 0]], "narration_id": ["S3"]},
            "segment 'S3' has verb class 2 but .* scores 2 verb classes",
        ),
        (
            {"verb_output": [[0.1, float("nan"), 0.2]], "noun_output": [[1.0, 0, 0]], "narration_id": ["S1"]},
            "row 0: expected finite",
        ),
    ],
)
def test_malformed_results_are_one_line_errors(files, tmp_path, capsys, obj, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(obj))
    assert main(["eval", "epic-recognition", str(files["labels"]), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_hostile_results_pickle_is_refused_by_the_cli(files, tmp_path, capsys):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR.")
    assert main(["eval", "epic-recognition", str(files["labels"]), str(path)]) == 2
    assert "refused to load global os.system" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()


def test_unlabelled_csv_and_bad_tail_csv(files, tmp_path, capsys):
    test_csv = tmp_path / "EPIC_100_test_timestamps.csv"
    test_csv.write_text(
        "narration_id,participant_id,video_id,start_timestamp,stop_timestamp\nS1,P01,P01_01,00:00:01.00,00:00:02.00\n"
    )
    with pytest.raises(AnnotationError, match="no verb_class / noun_class"):
        load_epic_labels(test_csv)
    bad = write_column_csv(tmp_path / "tail.csv", "verb", ["x"])
    assert (
        main(
            [
                "eval",
                "epic-recognition",
                str(files["labels"]),
                str(files["pkl"]),
                "--tail-verbs",
                str(bad),
                "--tail-nouns",
                str(files["tail_nouns"]),
            ]
        )
        == 2
    )
    assert "tail.csv, line 2, field 'verb': expected an integer" in capsys.readouterr().err


def test_random_case_matches_a_loop_reference_of_compute_metrics(tmp_path):
    # Reference written from the C1 protocol: per segment, rank classes by score; actions from the top-100 cut
    # (_official_action_top_k); tail action = tail verb OR tail noun; unseen by participant. No ties (normal draws).
    rng = np.random.default_rng(1)
    n, nv, nn = 60, 8, 12
    verb, noun = rng.normal(size=(n, nv)) * 2, rng.normal(size=(n, nn)) * 2
    vt, nt = rng.integers(0, nv, n), rng.integers(0, nn, n)
    top_a = _official_action_top_k(verb, noun, 5)
    vt[::2] = top_a[::2, 0, 0]  # make half of the action top-1s right
    nt[::2] = top_a[::2, 0, 1]
    pids = rng.choice(["P01", "P02", "P03"], n)
    rows = [(f"N{i}", pids[i], "V", 0.0, 1.0, int(vt[i]), int(nt[i])) for i in range(n)]
    labels = load_epic_labels(write_labels_csv(tmp_path / "l.csv", rows), num_verbs=nv, num_nouns=nn)
    res = recognition_results_from(
        {"verb_output": verb, "noun_output": noun, "narration_id": [f"N{i}" for i in range(n)]}, "mem"
    )
    tail_v, tail_n, unseen = {1, 5}, {0, 3, 7}, {"P02"}
    out = evaluate_epic_recognition(labels, res, tail_verbs=tail_v, tail_nouns=tail_n, unseen_participants=unseen)

    def ranked(row):
        return sorted(range(len(row)), key=lambda c: -row[c])

    hit = {"verb": [], "noun": [], "action": []}
    for i in range(n):
        hit["verb"].append([vt[i] in ranked(verb[i])[:k] for k in (1, 5)])
        hit["noun"].append([nt[i] in ranked(noun[i])[:k] for k in (1, 5)])
        pairs = [tuple(p) for p in top_a[i]]
        hit["action"].append([(vt[i], nt[i]) in pairs[:k] for k in (1, 5)])
    subsets = {
        "all": [True] * n,
        "tail_verb": [vt[i] in tail_v for i in range(n)],
        "tail_noun": [nt[i] in tail_n for i in range(n)],
        "tail_action": [vt[i] in tail_v or nt[i] in tail_n for i in range(n)],
        "unseen": [pids[i] in unseen for i in range(n)],
    }

    def acc(task, k, subset):
        sel = [hit[task][i][k] for i in range(n) if subsets[subset][i]]
        return 100 * sum(sel) / len(sel)

    expected = {f"all_{t}_accuracy_at_{k}": acc(t, j, "all") for t in hit for j, k in enumerate((1, 5))}
    expected |= {f"tail_{t}_accuracy_at_1": acc(t, 0, f"tail_{t}") for t in hit}
    expected |= {f"unseen_{t}_accuracy_at_1": acc(t, 0, "unseen") for t in hit}
    assert {k: v for k, v in out.items() if not k.startswith("num_")} == pytest.approx(expected, abs=1e-9)


class _HostileResult:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling would run: os.system("touch MARKER")
        import os

        return (os.system, (f"touch {self.marker}",))


def test_hostile_pt_and_unsafe_npz_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"verb_output": _HostileResult(marker)}, tmp_path / "evil.pt")
    with pytest.raises(
        AnnotationError, match=r"evil\.pt: cannot be read with torch\.load\(weights_only=True\).*system"
    ):
        load_recognition_results(tmp_path / "evil.pt")
    assert not marker.exists()
    np.savez(
        tmp_path / "obj.npz",
        verb_output=np.zeros((1, 3)),
        noun_output=np.zeros((1, 3)),
        narration_id=np.array(["S1"], dtype=object),
    )
    with pytest.raises(AnnotationError, match=r"obj\.npz: an array needs pickle"):
        load_recognition_results(tmp_path / "obj.npz")
    torch.save({"verb_output": torch.zeros(2, 3)}, tmp_path / "cut.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "cut.pt").read_bytes()[:100])
    with pytest.raises(AnnotationError, match=r"cut\.pt: cannot be read"):
        load_recognition_results(tmp_path / "cut.pt")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(AnnotationError, match=r"unknown results file type '\.json'"):
        load_recognition_results(tmp_path / "r.json")
