"""``runtime: {engine: onnxruntime}`` in a profile (and ``--runtime`` on the command line) with a recognizer *and* a
localizer: ONNX Runtime gives the windows, embeddings and localizer segments of eager PyTorch (probabilities
within 1e-3), and each document records the engine that ran its backbone. (Windows alone, without the CLI:
``test_analyze_stream.py``.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analyzekit import Kit

from vidstruct.cli.main import main
from vidstruct.structure import read_structure


def _run(kit: Kit, out: Path, profile: Path, *extra: str) -> dict:
    code = main(["analyze", str(kit.video), "--profile", str(profile), "--out", str(out), "--quiet", "--json", *extra])
    assert code == 0
    structure = read_structure(out / kit.video.stem)
    return {"doc": structure.document, "emb": np.asarray(structure.embeddings)}


@pytest.fixture(scope="module")
def runs(kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    root = tmp_path_factory.mktemp("ort")
    common = (
        "task: analyze\nshots: {detector: content}\n"
        f"recognizer: {{checkpoint: {kit.backbone}, window_s: 1.0, stride_s: 0.5, top_k: 0}}\n"
        f"localizer: {{checkpoint: {kit.localizer}}}\nreport: false\n"
    )
    eager_profile = root / "eager.yaml"
    eager_profile.write_text(common + "runtime: {engine: torch, device: cpu}\n")
    ort_profile = root / "ort.yaml"
    ort_profile.write_text(common + "runtime: {engine: onnxruntime, device: cpu}\n")
    eager = _run(kit, root / "eager", eager_profile)
    onnx = _run(kit, root / "ort", ort_profile)
    return eager, onnx


def test_the_engine_is_recorded_and_does_not_change_the_profile_hash(runs: tuple[dict, dict]) -> None:
    eager, onnx = runs
    assert eager["doc"]["models"]["recognizer"]["settings"]["engine"] == "torch"
    assert onnx["doc"]["models"]["recognizer"]["settings"]["engine"] == "onnxruntime"
    assert eager["doc"]["profile"]["sha256"] == onnx["doc"]["profile"]["sha256"]  # runtime is not part of it


def test_onnxruntime_windows_and_embeddings_match_pytorch(runs: tuple[dict, dict]) -> None:
    eager, onnx = runs
    a, b = eager["doc"]["windows"], onnx["doc"]["windows"]
    assert [w["start_s"] for w in a] == [w["start_s"] for w in b] and len(a) == 12
    for wa, wb in zip(a, b, strict=True):
        pa = {t["label"]: t["prob"] for t in wa["top"]}
        pb = {t["label"]: t["prob"] for t in wb["top"]}
        assert pb == pytest.approx(pa, abs=1e-3) and sum(pb.values()) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(onnx["emb"], eager["emb"], atol=1e-3)


def test_onnxruntime_feeds_the_localizer_the_same_snippets(runs: tuple[dict, dict]) -> None:
    eager, onnx = runs
    a, b = eager["doc"]["segments"], onnx["doc"]["segments"]
    assert a, "the localizer found no segment"
    assert [(s["label"], s["start_s"], s["end_s"]) for s in b] == [(s["label"], s["start_s"], s["end_s"]) for s in a]
    assert [s["score"] for s in b] == pytest.approx([s["score"] for s in a], abs=1e-3)


def test_runtime_option_overrides_the_profile(kit: Kit, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"task: analyze\nshots: {{detector: none}}\nrecognizer: {{checkpoint: {kit.backbone}}}\nreport: false\n"
        "runtime: {engine: torch, device: cpu}\n"
    )
    got = _run(kit, tmp_path / "out", profile, "--runtime", "onnxruntime")
    assert got["doc"]["models"]["recognizer"]["settings"]["engine"] == "onnxruntime"
