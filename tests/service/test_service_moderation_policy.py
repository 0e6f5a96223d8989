"""The moderation policy file: validation with one-line errors naming the file, the rule index and the key;
category inheritance and the probability / duration edges of a rule (pure, no database); a job finished by a
worker is checked (end to end, on both databases)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from servicekit import CONSTANT_PROB, make_api
from sqlalchemy import select

from vidstruct.cli.main import main
from vidstruct.service.db.models import ModerationFlag, Segment
from vidstruct.service.moderation.checker import matches
from vidstruct.service.moderation.policy import PolicyError, load_policy, parse_policy
from vidstruct.service.settings import ServiceSettings

TREE = [{"name": "top", "labels": ["a"], "children": [{"name": "mid", "labels": ["b"],
         "children": [{"name": "leaf", "labels": ["c"]}]}, {"name": "side", "labels": ["d"]}]}]  # fmt: skip


@dataclass
class Seg:
    id: int
    label: str
    start_s: float
    end_s: float
    score: float
    thumbnail: str | None = None


def _policy(*rules: dict) -> object:
    return parse_policy({"categories": TREE, "rules": list(rules)}, "p.yaml")


def test_a_category_covers_its_descendants_only() -> None:
    policy = _policy({"category": "top", "severity": "low"}, {"category": "mid", "severity": "low"},
                     {"category": "leaf", "severity": "low"}, {"labels": ["d", "zz"], "severity": "high"})  # fmt: skip
    assert [sorted(r.labels) for r in policy.rules] == [["a", "b", "c", "d"], ["b", "c"], ["c"], ["d", "zz"]]
    assert [r.name for r in policy.rules] == ["rule-0", "rule-1", "rule-2", "rule-3"]
    assert [(r.min_prob, r.min_duration_s, r.action) for r in policy.rules[:1]] == [(0.5, 0.0, "flag")]


def test_probability_and_duration_edges() -> None:
    policy = _policy({"name": "r", "category": "mid", "min_prob": 0.7, "min_duration_s": 1.5, "severity": "high"})
    segs = [
        Seg(1, "b", 0.0, 1.5, 0.7),  # both edges met
        Seg(2, "c", 0.3, 1.8, 0.9),  # a child's label; 1.8 - 0.3 is 1.5 less a float rounding
        Seg(3, "b", 0.0, 1.49, 0.9),  # too short
        Seg(4, "b", 0.0, 9.0, 0.6999),  # too unlikely
        Seg(5, "a", 0.0, 9.0, 0.99),  # the parent's label
    ]
    assert [(ev.source, ev.ref) for _, ev in matches(policy, segs)] == [("segment", 1), ("segment", 2)]


@dataclass
class Act:
    id: int
    track_id: int
    time_s: float
    actions: list[dict]


def test_actor_actions_match_as_runs_of_keyframes() -> None:
    def act(i: int, track: int, t: float, **probs: float) -> Act:
        return Act(i, track, t, [{"label": k, "prob": v} for k, v in probs.items()])

    actors = [
        act(1, 7, 1.0, b=0.9), act(2, 7, 2.0, b=0.75, c=0.2), act(3, 7, 3.0, b=0.95),  # one run 1-3 s, best 0.95
        act(4, 7, 4.0, b=0.3), act(5, 7, 5.0, b=0.8),  # 4 s breaks it; 5 s alone lasts 0 s
        act(6, 8, 1.0, c=0.7), act(7, 8, 2.5, c=0.71),  # track 8: child label c, 1-2.5 s
        act(8, 9, 1.0, a=0.99), act(9, 9, 2.0, a=0.99),  # the parent's label
    ]  # fmt: skip
    both = {"name": "r", "category": "mid", "min_prob": 0.7, "severity": "low", "sources": ["segments", "actors"]}
    got = [(ev.source, ev.ref, ev.track, ev.label, ev.start_s, ev.end_s, ev.probability)
           for _, ev in matches(_policy(both), [Seg(1, "b", 0.0, 1.0, 0.9)], actors)]  # fmt: skip
    assert got == [
        ("segment", 1, None, "b", 0.0, 1.0, 0.9),
        ("actor", 1, 7, "b", 1.0, 3.0, 0.95),
        ("actor", 5, 7, "b", 5.0, 5.0, 0.8),
        ("actor", 6, 8, "c", 1.0, 2.5, 0.71),
    ]
    longer = _policy({**both, "min_duration_s": 1.5, "sources": ["actors"]})
    assert [(ev.ref, ev.label) for _, ev in matches(longer, [Seg(1, "b", 0.0, 9.0, 0.9)], actors)] == [
        (1, "b"),
        (6, "c"),
    ]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n  - {labels: [a], severity: low}\n  - {labels: [a], min_prob: 1.5, severity: low}\n",
            "rule 1, key 'min_prob': Input should be less than or equal to 1",
        ),
        ("rules:\n  - {labels: [a], severity: urgent}\n", "rule 0, key 'severity': Input should be 'low', 'medium' or"),
        ("rules:\n  - {labels: [a], severity: low, action: delete}\n", "rule 0, key 'action': Input should be 'flag'"),
        ("rules:\n  - {labels: [a], severity: low, min_duraton_s: 1}\n", "rule 0, key 'min_duraton_s': Extra inputs"),
        (
            "rules:\n  - {labels: [a], severity: low}\n  - {category: nope, severity: low}\n",
            "rule 1, key 'category': unknown category 'nope' (known: none defined)",
        ),
        ("rules:\n  - {labels: [a], category: x, severity: low}\n", "rule 0, key 'labels' / 'category': give exactly"),
        (
            "rules:\n  - {name: x, labels: [a], severity: low}\n  - {name: x, labels: [b], severity: low}\n",
            "rule 1, key 'name': rule name 'x' is used twice",
        ),
        (
            "categories:\n  - {name: k, children: [{name: k}]}\nrules: [{category: k, severity: low}]\n",
            "key 'categories[0].children[0].name': category 'k' is defined twice",
        ),
        (
            "categories:\n  - {name: k, labels: [a], childs: []}\nrules: [{category: k, severity: low}]\n",
            "key 'categories[0].childs': Extra inputs are not permitted",
        ),
        ("rules: []\n", "key 'rules': List should have at least 1 item"),
        ("rules:\n  - {labels: [a], severity: low, sources: [frames]}\n", "rule 0, key 'sources.0': Input should be"),
        ("rules: [unclosed\n", "not valid YAML at line 2"),
    ],
)
def test_a_malformed_policy_is_one_line_naming_the_file_rule_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"moderation policy {path}: ")
    assert message in line


def test_serve_refuses_a_malformed_policy_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "rules:\n  - {labels: [a], severity: low, min_prob: -1}\n")
    code = main(["serve", "--data-dir", str(tmp_path / "data"), "--workers", "0", "--policy", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1
    assert f"moderation policy {path}: rule 0, key 'min_prob': Input should be greater than or equal to 0" in err[0]


def test_serve_hands_the_policy_to_its_workers(tmp_path: Path) -> None:
    import argparse

    from vidstruct.cli.commands import serve

    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args(["--data-dir", str(tmp_path), "--policy", "p.yaml"])
    args.quiet = False
    argv = serve._worker_argv(args)
    assert argv[argv.index("--policy") + 1] == "p.yaml"


def test_the_example_policy_loads() -> None:
    policy = load_policy(Path(__file__).parents[2] / "configs" / "moderation" / "synthetic.yaml")
    assert sorted(policy.rules[0].labels) == ["give_object", "receive_object"]
    assert sorted(policy.rules[1].labels) == ["approach", "give_object", "pass_by", "receive_object"]
    assert [r.action for r in policy.rules] == ["block", "flag", "flag"]


def test_a_job_finished_by_a_worker_is_checked(settings: ServiceSettings, tmp_path: Path, video_bytes: bytes) -> None:
    policy = tmp_path / "policy.yaml"
    # the tiny profile's recognizer says 'walk' with CONSTANT_PROB (0.711) everywhere: the first rule matches its
    # walk segments, the second (just above that probability) none
    policy.write_text(
        f"rules:\n  - {{name: walkers, labels: [walk], min_prob: 0.7, severity: medium, action: block}}\n"
        f"  - {{name: sure-walkers, labels: [walk], min_prob: {CONSTANT_PROB + 1e-6}, severity: high}}\n"
    )
    for api in make_api(replace(settings, policy_path=policy)):
        files = {"file": ("clip.mp4", video_bytes, "video/mp4")}
        job = api.client.post("/v1/jobs", headers=api.auth("write"), files=files, data={"features": "segments"})
        assert job.status_code in (200, 202), job.text
        assert api.worker().run(exit_when_idle=True) == 1
        with api.session() as session:
            walks = session.scalars(select(Segment).where(Segment.label == "walk")).all()
            flags = session.scalars(select(ModerationFlag)).all()
        assert walks and all(s.score == pytest.approx(CONSTANT_PROB, abs=1e-3) for s in walks)
        assert sorted((f.segment_id, f.rule["name"], f.status) for f in flags) == sorted(
            (s.id, "walkers", "open") for s in walks
        )
        video_id = walks[0].video_id
        meta = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
        assert meta["moderation"]["blocked"] is True and meta["moderation"]["pending_flags"] == len(walks)
        assert {f.analysis_id for f in flags} == {meta["analysis"]["analysis_id"]}
        assert flags[0].models["recognizer"]["name"] == "r2plus1d_tiny"
        # blocked: the pixels are withheld from read / write keys, not from reviewers; dismissing every flag lifts it
        media = f"/v1/videos/{video_id}/media"
        r = api.client.get(media, headers=api.auth("read"))
        assert r.status_code == 451 and r.headers["content-type"] == "application/problem+json"
        assert api.client.get(media, headers=api.auth("write")).status_code == 451
        assert api.client.get(media, headers=api.auth("review")).content == video_bytes
        for flag in flags:
            url = f"/v1/moderation/flags/{flag.id}/review"
            assert api.client.post(url, json={"decision": "dismiss"}, headers=api.auth("review")).status_code == 200
        assert api.client.get(media, headers=api.auth("read")).content == video_bytes
