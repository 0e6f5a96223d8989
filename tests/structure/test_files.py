"""Writing and reading a structure folder: validation first, atomic files, lazy embeddings, one-line errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidstruct.errors import AnnotationError, ShapeError, VidstructError
from vidstruct.structure import STRUCTURE_FILE, StructureError, parse_structure, read_structure, write_structure


def test_write_then_read_round_trip(tmp_path: Path, doc: dict[str, Any], embeddings: np.ndarray) -> None:
    out = write_structure(tmp_path / "clip01", doc, embeddings)
    assert out == tmp_path / "clip01" / STRUCTURE_FILE
    assert sorted(p.name for p in out.parent.iterdir()) == ["embeddings.npy", "structure.json"]  # no temporaries
    assert json.loads(out.read_text(encoding="utf-8")) == doc
    assert np.array_equal(np.load(out.parent / "embeddings.npy"), embeddings)
    loaded = read_structure(out.parent)  # a folder is read as folder/structure.json
    assert loaded.path == out and loaded.document == doc and loaded.folder == out.parent
    assert loaded.resolve("thumbs/shot-0000.jpg") == out.parent / "thumbs" / "shot-0000.jpg"
    assert loaded.embeddings is not None
    assert loaded.embeddings.dtype == np.float32 and loaded.embeddings.shape == (4, 8)
    assert loaded.embeddings[2, 5] == np.float32(2.5)


def test_embeddings_load_only_when_asked(structure_dir: Path) -> None:
    (structure_dir / "embeddings.npy").unlink()
    loaded = read_structure(structure_dir / "structure.json")  # reading the document does not touch the array
    with pytest.raises(StructureError, match=r"structure\.json: \$\.embeddings\.file: embeddings file .* not found"):
        _ = loaded.embeddings


def test_embeddings_of_the_wrong_shape_or_dtype_are_named(structure_dir: Path) -> None:
    np.save(structure_dir / "embeddings.npy", np.zeros((3, 8), np.float32))
    with pytest.raises(
        StructureError, match=r"\$\.embeddings\.file: .* expected float32 \[4, 8\], got float32 \[3, 8\]"
    ):
        _ = read_structure(structure_dir).embeddings
    np.save(structure_dir / "embeddings.npy", np.zeros((4, 8), np.float64))
    with pytest.raises(StructureError, match=r"got float64 \[4, 8\]"):
        _ = read_structure(structure_dir).embeddings
    (structure_dir / "embeddings.npy").write_bytes(b"not numpy")
    with pytest.raises(StructureError, match=r"not a \.npy array"):
        _ = read_structure(structure_dir).embeddings


def test_invalid_document_is_not_written(tmp_path: Path, doc: dict[str, Any], embeddings: np.ndarray) -> None:
    doc["segments"][0]["score"] = 1.2
    with pytest.raises(ValueError, match=r"refusing to write .*structure\.json: \$\.segments\[0\]\.score") as info:
        write_structure(tmp_path / "v", doc, embeddings)
    assert isinstance(info.value.__cause__, StructureError)
    assert not (tmp_path / "v").exists() or not any((tmp_path / "v").iterdir())


def test_embeddings_must_match_the_document(tmp_path: Path, doc: dict[str, Any], embeddings: np.ndarray) -> None:
    with pytest.raises(ShapeError, match=r"float32 \[4, 8\] \(rows, dim\), got float64 \[4, 8\]"):
        write_structure(tmp_path / "v", doc, embeddings.astype(np.float64))
    with pytest.raises(ShapeError, match=r"got float32 \[5, 8\]"):
        write_structure(tmp_path / "v", doc, np.zeros((5, 8), np.float32))
    with pytest.raises(ValueError, match="no embeddings were given"):
        write_structure(tmp_path / "v", doc, None)
    bad = embeddings.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_structure(tmp_path / "v", doc, bad)
    doc["embeddings"] = None
    for window in doc["windows"]:
        window["embedding_row"] = None
    with pytest.raises(ValueError, match="'embeddings' is null"):
        write_structure(tmp_path / "v", doc, embeddings)
    assert not (tmp_path / "v").exists()
    write_structure(tmp_path / "v", doc)
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["structure.json"]


def test_rewrite_replaces_the_old_files(tmp_path: Path, doc: dict[str, Any], embeddings: np.ndarray) -> None:
    write_structure(tmp_path, doc, embeddings)
    doc["warnings"] = ["second run"]
    write_structure(tmp_path, doc, embeddings + 1)
    assert read_structure(tmp_path).document["warnings"] == ["second run"]
    assert read_structure(tmp_path).embeddings[0, 0] == np.float32(1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"format": "vidstruct.structure/1",',
            r"^s\.json: not valid JSON \(Expecting property name .* line 1, column 36\)$",
        ),
        ('{"format": "vidstruct.structure/1", "x": NaN}', r"^s\.json: not valid JSON \(NaN is not a JSON number\)$"),
        (
            '{"format": "vidstruct.structure/9"}',
            r"^s\.json: \$\.format: version 'vidstruct\.structure/9' is not supported",
        ),
        ('["not", "an", "object"]', r"^s\.json: \$: expected a JSON object"),
    ],
)
def test_bad_text_gives_one_line_naming_the_source(text: str, message: str) -> None:
    with pytest.raises(StructureError, match=message):
        parse_structure(text, source="s.json")


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(StructureError, match=r"missing\.json: structure file not found$"):
        read_structure(tmp_path / "missing.json")
    with pytest.raises(StructureError, match=r"structure\.json: structure file not found$"):
        read_structure(tmp_path)  # a folder without structure.json
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(StructureError, match=r"bin\.json: not UTF-8 text"):
        read_structure(tmp_path / "bin.json")


def test_structure_error_is_a_user_error_and_survives_pickling() -> None:
    err = StructureError("s.json", "$.shots[0]", "broken")
    assert isinstance(err, AnnotationError) and isinstance(err, VidstructError) and err.exit_code == 2
    back = pickle.loads(pickle.dumps(err))
    assert (back.source, back.path, back.problem, str(back)) == (
        "s.json",
        "$.shots[0]",
        "broken",
        "s.json: $.shots[0]: broken",
    )
