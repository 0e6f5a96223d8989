"""``vidstruct schema structure`` and ``vidstruct export-structure`` through the CLI: outputs, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vidstruct.cli.commands import export_structure as command
from vidstruct.cli.main import main
from vidstruct.structure import load_schema, schema_text
from vidstruct.structure.exports import FORMATS

SaveDoc = Callable[[dict[str, Any]], Path]


def test_schema_structure_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["schema", "structure"]) == 0
    assert json.loads(capsys.readouterr().out) == load_schema()
    out = tmp_path / "schemas" / "structure.json"
    assert main(["schema", "structure", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == schema_text()
    assert capsys.readouterr().out == f"wrote {out}\n"


def test_schema_of_an_unknown_document_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["schema", "features"])
    assert info.value.code == 2
    assert "invalid choice: 'features'" in capsys.readouterr().err


def test_the_command_offers_every_export_format() -> None:
    assert tuple(FORMATS) == command.FORMATS


@pytest.mark.parametrize(
    ("fmt", "names"),
    [
        ("webvtt", ["x.vtt", "x.segments.vtt"]),
        ("csv", ["x.csv"]),
        ("activitynet", ["x.json"]),
        ("ava", ["x.csv", "x.label_map.pbtxt"]),
        ("otio", ["x.otio"]),
        ("labelstudio", ["x.json", "x.labeling.xml"]),
    ],
)
def test_export_structure_writes_each_format(
    structure_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, names: list[str]
) -> None:
    out = tmp_path / "out" / names[0]
    assert main(["export-structure", str(structure_dir), "--format", fmt, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "format": fmt,
        "structure": str(structure_dir / "structure.json"),
        "files": [str(tmp_path / "out" / n) for n in names],
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)  # no temporary files left


def test_unknown_format_is_an_argparse_error(structure_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export-structure", str(structure_dir), "--format", "srt", "--out", "x.srt"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --format: invalid choice: 'srt'" in err and err.count("\n") == 1


def _run_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    return captured.err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d.update(format="vidstruct.structure/2"),
            "$.format: version 'vidstruct.structure/2' is not supported",
        ),
        (lambda d: d.update(format="activitynet"), "$.format: expected 'vidstruct.structure/1', got 'activitynet'"),
        (lambda d: d["segments"][0].update(score=2), "$.segments[0].score: 2 is greater than the maximum of 1"),
        (lambda d: d["shots"][1].update(start_s=4.25), "$.shots[1].start_s: shots are contiguous"),
    ],
)
def test_bad_documents_give_one_line_with_file_and_json_path(
    doc: dict[str, Any],
    save_doc: SaveDoc,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    change(doc)
    folder = save_doc(doc)
    err = _run_error(["export-structure", str(folder), "--format", "csv", "--out", str(tmp_path / "x.csv")], capsys)
    assert err.startswith(f"error: {folder / 'structure.json'}: {expected}")
    assert not (tmp_path / "x.csv").exists()


def test_malformed_and_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "structure.json"
    bad.write_text('{"format": "vidstruct.structure/1", "video": }', encoding="utf-8")
    out = str(tmp_path / "x.csv")
    err = _run_error(["export-structure", str(bad), "--format", "csv", "--out", out], capsys)
    assert err == f"error: {bad}: not valid JSON (Expecting value at line 1, column 46)\n"
    missing = tmp_path / "nope" / "structure.json"
    err = _run_error(["export-structure", str(missing), "--format", "csv", "--out", out], capsys)
    assert err == f"error: {missing}: structure file not found\n"


def test_a_format_the_document_cannot_fill_is_one_line(
    doc: dict[str, Any], save_doc: SaveDoc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc["video"]["fps"] = None
    folder = save_doc(doc)
    args = ["export-structure", str(folder), "--format", "labelstudio", "--out", str(tmp_path / "t.json")]
    err = _run_error(args, capsys)
    assert err.startswith(f"error: {folder / 'structure.json'}: $.video.fps: Label Studio timelines count frames")
