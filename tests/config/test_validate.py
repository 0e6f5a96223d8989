"""Schema validation: every error path names the key, its source and the expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstruct.config import ExperimentConfig, load_config, validate_kwargs
from vidstruct.errors import ConfigError


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text("model: {name: toy}\noptim: {lr: 0.1, name: sgd}\ntrain: {batch_size: 4}\n")
    return path


def test_valid_config_gets_types_and_defaults(cfg_file: Path) -> None:
    cfg, _ = load_config(cfg_file, ["optim.lr=0.02", "train.max_steps=7"])
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.optim.lr == 0.02 and cfg.train.max_steps == 7 and cfg.train.batch_size == 4
    assert cfg.optim.schedule == "cosine"  # schema default
    assert cfg.data.sampler.clip_len == 8


def test_unknown_key_names_file_and_close_match(cfg_file: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(cfg_file, ["optim.lrr=0.1"])
    msg = str(exc.value)
    assert msg.startswith("command line: unknown key 'optim.lrr'")
    assert "did you mean 'lr'" in msg


def test_unknown_key_in_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("model: {name: toy}\ntrain: {batch_sise: 4}\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown key 'train\.batch_sise' \(did you mean 'batch_size'"):
        load_config(path)


def test_unknown_top_level_section_lists_allowed(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("model: {name: toy}\nzzz: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'zzz' \(allowed: task, model, data, optim, train, test\)"):
        load_config(path)


def test_wrong_type_names_expected_type(cfg_file: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(cfg_file, ["optim.lr=fast"])
    msg = str(exc.value)
    assert msg.startswith("command line: optim.lr:")
    assert "expected float" in msg and "'fast'" in msg


def test_wrong_literal_value(cfg_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"train\.amp: .*'fp8'"):
        load_config(cfg_file, ["train.amp=fp8"])


def test_out_of_range_value(cfg_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"train\.batch_size: .*greater than or equal to 1"):
        load_config(cfg_file, ["train.batch_size=0"])


def test_missing_required_value(tmp_path: Path) -> None:
    path = tmp_path / "nomodel.yaml"
    path.write_text("optim: {lr: 0.1}\n")
    with pytest.raises(ConfigError, match=r"missing required key 'model' \(expected ModelSection\)"):
        load_config(path)
    path.write_text("model: {depth: 3}\n")
    with pytest.raises(ConfigError, match=r"missing required key 'model\.name' \(expected str\)"):
        load_config(path)


def test_several_errors_are_counted(cfg_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[\+1 more error\(s\)\]"):
        load_config(cfg_file, ["optim.lr=x", "train.batch_size=x"])


def builder(*, depth: int = 18, width: float = 1.0, norm: str = "bn") -> None:
    """A stand-in model builder."""


def test_builder_kwargs_are_checked_against_signature(cfg_file: Path) -> None:
    assert validate_kwargs(builder, {"depth": "34"}, "model") == {"depth": 34}
    with pytest.raises(ConfigError, match=r"unknown key 'model\.dept' \(did you mean 'depth'"):
        validate_kwargs(builder, {"dept": 3}, "model")
    with pytest.raises(ConfigError, match=r"model\.width: .*expected float"):
        validate_kwargs(builder, {"width": "wide"}, "model")
