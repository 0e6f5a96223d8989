"""``vidstruct index`` usage errors (one line, exit 2, before any video) and the profile's ``resources`` section
(validated; not part of the profile hash, so adding it re-indexes nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from indexkit import migrated

from vidstruct.cli.main import main
from vidstruct.errors import ConfigError
from vidstruct.recipes.analyze import analyze_settings, load_profile


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


def test_usage_errors_are_one_line(
    collection: Path,
    profiles: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    err = _error(["index", str(collection), "--data-dir", str(data), "--profile", "tiny"], capsys)
    assert err.startswith("error: the database has no vidstruct schema: run 'vidstruct db upgrade'")
    migrated(f"sqlite+pysqlite:///{data / 'vidstruct.db'}")
    err = _error(["index", str(collection), "--data-dir", str(data), "--profile", "nope"], capsys)
    assert err.startswith("error: --profile nope: no such profile")
    monkeypatch.delenv("VIDSTRUCT_API_KEY", raising=False)
    err = _error(["index", str(collection), "--server", "http://127.0.0.1:9"], capsys)
    assert "--api-key or VIDSTRUCT_API_KEY" in err
    err = _error(["index", str(collection), "--server", "http://127.0.0.1:9", "--api-key", "sekret-key"], capsys)
    assert err.startswith("error: --server http://127.0.0.1:9: no answer") and "sekret-key" not in err
    assert list((data / "analyses").glob("*")) == []


def test_resources_are_validated_and_not_hashed(profiles: Path, tmp_path: Path) -> None:
    plain = load_profile(profiles / "tiny.yaml")
    text = (profiles / "tiny.yaml").read_text()
    with_resources = tmp_path / "tiny.yaml"
    with_resources.write_text(text + "resources: {num_cpus: 0.5, num_gpus: 1}\n")
    (tmp_path / "constant.pt").symlink_to(profiles / "constant.pt")
    profile, composed = load_profile(with_resources)
    assert (profile.resources.num_cpus, profile.resources.num_gpus) == (0.5, 1.0)
    assert (plain[0].resources.num_cpus, plain[0].resources.num_gpus) == (1.0, 0.0)  # the defaults
    assert analyze_settings(profile, composed).profile_sha256 == analyze_settings(*plain).profile_sha256
    for bad in ("{num_cpus: 0}", "{num_gpus: -1}", "{cpus: 1}"):
        with_resources.write_text(text + f"resources: {bad}\n")
        with pytest.raises(ConfigError, match="resources"):
            load_profile(with_resources)
