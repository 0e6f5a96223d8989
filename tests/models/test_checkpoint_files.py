"""The task models' checkpoint files share one reader: run folder or file, safe load, format, fields."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidstruct.errors import CheckpointError
from vidstruct.models.checkpoint_files import need_field, read_checkpoint_doc, resolve_run_file

FMT = "vidstruct.thing/1"


def test_a_run_folder_names_its_file_and_a_missing_one_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "thing.pt").write_bytes(b"")
    assert resolve_run_file(tmp_path / "run", "thing.pt", "thing") == tmp_path / "run" / "thing.pt"
    assert resolve_run_file(tmp_path / "run" / "thing.pt", "thing.pt", "thing") == tmp_path / "run" / "thing.pt"
    with pytest.raises(CheckpointError, match=r"gone: action detector checkpoint not found \(expected a file or RUN/x"):
        resolve_run_file(tmp_path / "gone", "x.pt", "action detector")


def test_format_and_fields_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"format": FMT, "classes": ["a"], "count": 3, "flag": True}, good)
    doc = read_checkpoint_doc(good, FMT, "thing")
    assert need_field(doc, "classes", list, good, FMT) == ["a"] and need_field(doc, "count", int, good, FMT) == 3
    with pytest.raises(CheckpointError, match=r"not a vidstruct.thing/1 file \(field 'flag' is missing or malformed"):
        need_field(doc, "flag", int, good, FMT)  # a bool is no count
    with pytest.raises(CheckpointError, match="field 'gone' is missing"):
        need_field(doc, "gone", list, good, FMT)
    other = tmp_path / "other.pt"
    torch.save({"format": "vidstruct.model/1"}, other)
    with pytest.raises(
        CheckpointError,
        match=r"not an action detector checkpoint \(expected format 'vidstruct.thing/1', got 'vidstruct.model/1'\)",
    ):
        read_checkpoint_doc(other, FMT, "action detector")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        read_checkpoint_doc(junk, FMT, "thing")
