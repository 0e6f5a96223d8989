"""Config composition: ``_base_`` inheritance, merging and typed overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstruct.config import apply_overrides, compose, parse_override
from vidstruct.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_chain_merges_dicts_and_child_wins(tmp_path: Path) -> None:
    write(tmp_path / "base" / "a.yaml", "optim: {lr: 0.1, momentum: 0.9}\ntrain: {batch_size: 8}\n")
    write(tmp_path / "base" / "b.yaml", "_base_: a.yaml\noptim: {lr: 0.2}\nmodel: {name: m1}\n")
    child = write(tmp_path / "exp.yaml", "_base_: base/b.yaml\ntrain: {max_steps: 5}\n")
    cfg = compose(child)
    assert cfg.data == {
        "optim": {"lr": 0.2, "momentum": 0.9},
        "train": {"batch_size": 8, "max_steps": 5},
        "model": {"name": "m1"},
    }
    # provenance: each leaf knows the file that set it
    assert cfg.source_of("optim.lr").endswith("b.yaml")
    assert cfg.source_of("optim.momentum").endswith("a.yaml")
    assert cfg.source_of("train.max_steps").endswith("exp.yaml")


def test_multiple_bases_apply_left_to_right(tmp_path: Path) -> None:
    write(tmp_path / "x.yaml", "a: 1\nb: {c: 1, d: 1}\n")
    write(tmp_path / "y.yaml", "a: 2\nb: {c: 2}\n")
    cfg = compose(write(tmp_path / "z.yaml", "_base_: [x.yaml, y.yaml]\n"))
    assert cfg.data == {"a": 2, "b": {"c": 2, "d": 1}}


def test_replace_marker_drops_base_keys(tmp_path: Path) -> None:
    write(tmp_path / "x.yaml", "model: {name: big, depth: 50, width: 64}\n")
    cfg = compose(write(tmp_path / "y.yaml", "_base_: x.yaml\nmodel: {_replace_: true, name: small}\n"))
    assert cfg.data == {"model": {"name": "small"}}
    assert cfg.source_of("model.depth").endswith("y.yaml")  # falls back to the replacing mapping


def test_lists_replace_not_concatenate(tmp_path: Path) -> None:
    write(tmp_path / "x.yaml", "optim: {milestones: [1, 2, 3]}\n")
    cfg = compose(write(tmp_path / "y.yaml", "_base_: x.yaml\noptim: {milestones: [9]}\n"))
    assert cfg.data["optim"]["milestones"] == [9]


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("optim.lr=0.01", "optim.lr", 0.01),
        ("model.depth=50", "model.depth", 50),
        ("train.amp=bf16", "train.amp", "bf16"),
        ("optim.milestones=[10,20]", "optim.milestones", [10, 20]),
        ("x.flag=true", "x.flag", True),
        ("x.none=null", "x.none", None),
        ("x.map={a: 1}", "x.map", {"a": 1}),
        ("x.s='007'", "x.s", "007"),
        ("x.e=1e-3", "x.e", 1e-3),
    ],
)
def test_overrides_are_typed(text: str, key: str, value: object) -> None:
    assert parse_override(text) == (key, value)
    assert type(parse_override(text)[1]) is type(value)


def test_override_creates_and_records_source(tmp_path: Path) -> None:
    cfg = compose(write(tmp_path / "a.yaml", "optim: {lr: 0.1}\n"), ["optim.lr=0.5", "train.batch_size=2"])
    assert cfg.data == {"optim": {"lr": 0.5}, "train": {"batch_size": 2}}
    assert cfg.source_of("optim.lr") == "command line"


@pytest.mark.parametrize("bad", ["optim.lr", "=3", "a..b=1", "optim.lr=[1,"])
def test_malformed_override(bad: str) -> None:
    with pytest.raises(ConfigError, match="override"):
        parse_override(bad)


def test_override_through_scalar_fails(tmp_path: Path) -> None:
    cfg = compose(write(tmp_path / "a.yaml", "optim: 3\n"))
    with pytest.raises(ConfigError, match="'optim' is a int, not a mapping"):
        apply_overrides(cfg, ["optim.lr=1"])


def test_missing_file_and_bad_yaml_and_cycles(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        compose(tmp_path / "nope.yaml")
    bad = write(tmp_path / "bad.yaml", "a: 1\nb: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        compose(bad)
    write(tmp_path / "c1.yaml", "_base_: c2.yaml\n")
    write(tmp_path / "c2.yaml", "_base_: c1.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        compose(tmp_path / "c1.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        compose(write(tmp_path / "list.yaml", "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="_base_ must be"):
        compose(write(tmp_path / "b.yaml", "_base_: 3\n"))
