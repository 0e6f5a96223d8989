"""``vidstruct config show`` on every config the project ships, whatever its task, and the task dispatch.

Excluded: the files under ``configs/base/`` — ``_base_`` fragments (shared defaults without a ``model``) that are
not meant to be shown alone; the test checks that each is used as a ``_base_`` by a shipped config and that
showing it alone fails with a one-line error naming the missing key. Moderation policies (``configs/moderation/``,
no ``task``) are shown by the same command and checked against the service's policy schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vidstruct.cli.main import main
from vidstruct.config import TASKS, load_task_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml"))
FRAGMENTS = [p for p in CONFIGS if p.parent.name == "base"]
POLICIES = [p for p in CONFIGS if p.parent.name == "moderation"]
SHOWN = [p for p in CONFIGS if p not in FRAGMENTS and p not in POLICIES]


def _bases(path: Path) -> list[Path]:
    bases = yaml.safe_load(path.read_text()).get("_base_", [])
    return [(path.parent / b).resolve() for b in ([bases] if isinstance(bases, str) else bases)]


def test_the_shipped_configs_cover_every_task() -> None:
    tasks = {load_task_config(p).task for p in SHOWN}
    assert tasks == set(TASKS)


@pytest.mark.parametrize("path", SHOWN, ids=[str(p.relative_to(ROOT / "configs")) for p in SHOWN])
def test_config_show_prints_yaml_that_validates_to_the_same_config(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    shown = yaml.safe_load(captured.out)
    expected = load_task_config(path)
    assert shown["task"] == expected.task
    assert shown == expected.cfg.model_dump(mode="json")
    # the printed YAML is a complete config of its own: shown again, it prints the same text
    again = tmp_path / "shown.yaml"
    again.write_text(captured.out)
    assert main(["config", "show", str(again)]) == 0
    assert capsys.readouterr().out == captured.out


@pytest.mark.parametrize("path", FRAGMENTS, ids=[p.name for p in FRAGMENTS])
def test_base_fragments_are_bases_and_not_configs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert any(path.resolve() in _bases(p) for p in SHOWN), f"{path} is no config's _base_"
    assert main(["config", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing required key 'model'" in err


def test_config_show_with_an_override_of_a_task_section(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "configs" / "mosi" / "r2plus1d_tiny_procedural.yaml"
    assert main(["config", "show", str(path), "mosi.crop_size=32", "train.max_steps=7"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["mosi"]["crop_size"] == 32 and shown["train"]["max_steps"] == 7


def test_unknown_task_is_one_line_with_a_close_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("task: localisation\nmodel: {name: bmn}\n")
    assert main(["config", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown task 'localisation'" in err and "did you mean 'localization'" in err


def test_a_mosi_section_without_task_says_which_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("model: {name: r2plus1d_tiny}\nmosi: {num_frames: 8}\n")
    assert main(["config", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown key 'mosi'" in err and "is this a 'task: mosi' config?" in err


def test_a_command_refuses_a_task_it_does_not_handle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mosi = ROOT / "configs" / "mosi" / "r2plus1d_tiny_procedural.yaml"
    assert main(["train", str(mosi), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a task 'mosi' config; train handles task" in err
    assert "use vidstruct pretrain-mosi" in err
    assert not (tmp_path / "run").exists()
    loc = ROOT / "configs" / "localization" / "synth_bmn.yaml"
    assert main(["pretrain-mosi", str(loc), "--out", str(tmp_path / "run")]) == 2
    assert "a task 'localization' config; pretrain-mosi handles task mosi" in capsys.readouterr().err


@pytest.mark.parametrize("path", POLICIES, ids=[p.name for p in POLICIES])
def test_config_show_prints_a_moderation_policy_that_loads_to_the_same_policy(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vidstruct.service.moderation.policy import load_policy

    assert main(["config", "show", str(path)]) == 0
    shown = tmp_path / "shown.yaml"
    shown.write_text(capsys.readouterr().out)
    assert load_policy(shown).sha256 == load_policy(path).sha256  # same content, defaults filled in
    broken = tmp_path / "broken.yaml"
    broken.write_text(path.read_text().replace("severity:", "severity_level:", 1))
    assert main(["config", "show", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "moderation policy" in err and "rule 0" in err
