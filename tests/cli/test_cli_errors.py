"""CLI: help lists commands; user errors are one line on stderr, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vidstruct.cli.main import build_parser, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sub.choices, "no commands registered"
    for name in sub.choices:
        assert name in out


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: vidstruct " + name in capsys.readouterr().out


def test_bad_config_key_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: toy}\n")
    rc = main(["config", "show", str(cfg), "optim.lrr=1", "--schema", "experiment"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: command line: unknown key 'optim.lrr'")


def test_unknown_model_lists_close_matches(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: no_such_model_zz}\n")
    rc = main(["config", "show", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: unknown model 'no_such_model_zz'")


def test_missing_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = main(["config", "show", str(tmp_path / "missing.yaml")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().endswith("config file not found") and err.count("\n") == 1


def test_bad_argument_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["config", "frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_subprocess_has_no_traceback_unless_debug(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: toy}\ntrain: {batch_size: -1}\n")
    cmd = [sys.executable, "-m", "vidstruct", "config", "show", str(cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and "train.batch_size" in proc.stderr
    debug = subprocess.run([*cmd[:3], "--debug", *cmd[3:]], capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_config_show_prints_resolved_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("optim: {lr: 0.1}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("_base_: base.yaml\nmodel: {name: toy}\n")
    rc = main(["config", "show", str(cfg), "optim.lr=0.5", "--schema", "none"])
    assert rc == 0
    import yaml

    assert yaml.safe_load(capsys.readouterr().out) == {"optim": {"lr": 0.5}, "model": {"name": "toy"}}


def test_overrides_may_follow_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim: {lr: 0.1}\n")
    rc = main(["config", "show", str(cfg), "--schema", "none", "optim.lr=0.5", "train.max_steps=3"])
    assert rc == 0
    import yaml

    assert yaml.safe_load(capsys.readouterr().out) == {"optim": {"lr": 0.5}, "train": {"max_steps": 3}}


def test_stray_argument_is_still_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["models", "list", "stray"])
    assert exc.value.code == 2
    assert "unrecognized arguments: stray" in capsys.readouterr().err
