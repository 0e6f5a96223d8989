"""The restricted unpickler: numpy arrays and plain containers round-trip, anything else is refused unrun."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidstruct.data.formats.safe_pickle import load_restricted_pickle, loads_restricted_pickle
from vidstruct.errors import AnnotationError


def _sample() -> dict:
    return {
        "verb_output": np.arange(12, dtype=np.float32).reshape(3, 4),
        "noun_output": np.asfortranarray(np.linspace(0.0, 1.0, 6).reshape(2, 3)),
        "narration_id": ["P01_01_0", "P01_01_1", "P01_01_2"],
        "ids": np.array(["a", "bc"]),
        "objects": np.array([{"k": 1}, None], dtype=object),
        "records": np.array([(1, 2.5)], dtype=[("a", "i4"), ("b", "f8")]),
        "scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.datetime64("2020-01-02")],
        "plain": (1, 2.0, 3j, None, True, "s", b"b", bytearray(b"y"), {4, 5}, frozenset({6})),
        "dtype": np.dtype("<f8"),
    }


def _assert_same(a: object, b: object) -> None:
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tolist() == b.tolist()
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_round_trip_of_arrays_and_containers(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "results.pkl"
    path.write_bytes(pickle.dumps(_sample(), protocol=protocol))
    _assert_same(load_restricted_pickle(path), _sample())


def test_numpy_1x_module_paths_are_admitted() -> None:
    data = pickle.dumps({"a": np.arange(3.0), "s": np.float32(2.5)}, protocol=2)
    assert b"numpy._core.multiarray" in data
    old = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # what numpy 1.x writes
    loaded = loads_restricted_pickle(old)
    assert loaded["a"].tolist() == [0.0, 1.0, 2.0] and loaded["s"] == np.float32(2.5)


class _Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling would run: os.system("touch MARKER")
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"verb_output": [_Hostile(marker)]}))
    with pytest.raises(AnnotationError) as err:
        load_restricted_pickle(path)
    msg = str(err.value)
    assert str(path) in msg and ("posix.system" in msg or "os.system" in msg)
    assert "\n" not in msg
    assert not marker.exists()


@pytest.mark.parametrize(
    "module, name",
    [("builtins", "eval"), ("subprocess", "Popen"), ("builtins", "getattr"), ("numpy", "load"), ("numpy", "_x")],
)
def test_other_globals_are_refused(module: str, name: str) -> None:
    data = f"c{module}\n{name}\n(S'1'\ntR.".encode()  # protocol 0: module.name('1')
    with pytest.raises(AnnotationError, match=rf"refused to load global {module}\.{name}"):
        loads_restricted_pickle(data, "x.pkl")


def test_pandas_dataframe_pickle_is_refused_with_a_hint() -> None:
    data = b"\x80\x02cpandas.core.frame\nDataFrame\nq\x00)\x81q\x01."
    with pytest.raises(AnnotationError, match=r"pandas\.core\.frame\.DataFrame.*to_csv"):
        loads_restricted_pickle(data, "labels.pkl")


@pytest.mark.parametrize("content", [b"", b"narration_id,verb\n", pickle.dumps(list(range(100)))[:-7]])
def test_truncated_or_not_a_pickle_is_one_line_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(AnnotationError, match=r"bad\.pkl: not a readable pickle") as err:
        load_restricted_pickle(path)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="file not found"):
        load_restricted_pickle(tmp_path / "none.pkl")


def test_reads_without_pandas(tmp_path: Path) -> None:
    path = tmp_path / "r.pkl"
    path.write_bytes(pickle.dumps({"x": np.ones(2)}))
    code = (
        "import sys; sys.modules['pandas'] = None\n"  # any import of pandas now fails
        "from vidstruct.data.formats.safe_pickle import load_restricted_pickle\n"
        f"print(load_restricted_pickle({str(path)!r})['x'].sum())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2.0"
